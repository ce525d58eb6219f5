#pragma once
// The seed example every layer must handle verbatim (DESIGN.md §1): a networking.istio.io
// v1alpha3 VirtualService sending 80% to subset v1 and 20% to subset v2 of my-app; and the
// Gateway API form of the same canary.

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

// The same split with the Gateway API (GAMMA): an HTTPRoute whose parent is Service my-app,
// weighting the per-version Services my-app-v1 / my-app-v2; x-canary: yes goes to v2.
inline constexpr char kCanaryHttpRoute[] = R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: my-app, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: my-app, port: 80}]
  rules:
  - matches: [{headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: my-app-v2, port: 80}]
  - backendRefs:
    - {name: my-app-v1, port: 80, weight: 80}
    - {name: my-app-v2, port: 80, weight: 20}
)";

}  // namespace ambit::testdata
