#pragma once
// The seed example every layer must handle verbatim (DESIGN.md §1): a networking.istio.io
// v1alpha3 VirtualService sending 80% to subset v1 and 20% to subset v2 of my-app.

namespace ambit::testdata {

inline constexpr char kSeedVirtualService[] = R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app
spec:
  hosts:
  - my-app.default.svc.cluster.local
  http:
  - route:
    - destination:
        host: my-app
        subset: v1
      weight: 80
    - destination:
        host: my-app
        subset: v2
      weight: 20
)";

}  // namespace ambit::testdata
