#pragma once
// A generated mesh of `workloads` pods for the configuration micro-benchmarks: 100 ambient
// namespaces, one Service per 10 pods, a DestinationRule and an AuthorizationPolicy per
// namespace, in three files (namespaces, pods, services), as a large cluster's config directory
// would hold them. Header-only (generated, not a file under tests/data: its size is a parameter).

#include <fmt/format.h>

#include <string>
#include <vector>

#include "common/config/resource.h"

namespace ambit::test {

inline std::vector<config::SourceDocument> largeMesh(int workloads) {
  constexpr int kNamespaces = 100;
  std::vector<config::SourceDocument> docs;
  std::string ns_yaml;
  for (int n = 0; n < kNamespaces; ++n) {
    ns_yaml += fmt::format(
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{0}, labels: "
        "{{istio.io/dataplane-mode: ambient}}}}\n---\n"
        "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
        "metadata: {{name: svc0, namespace: ns{0}}}\nspec:\n  host: svc0\n  subsets:\n"
        "  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: v2}}}}\n"
        "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {{name: allow-frontend, namespace: ns{0}}}\nspec:\n"
        "  selector: {{matchLabels: {{app: svc0}}}}\n  action: ALLOW\n  rules:\n"
        "  - from: [{{source: {{principals: [cluster.local/ns/ns{0}/sa/frontend]}}}}]\n"
        "    to: [{{operation: {{ports: [\"8080\"]}}}}]\n",
        n);
  }
  docs.push_back({"00-namespaces.yaml", std::move(ns_yaml)});
  std::string pods, services;
  for (int i = 0; i < workloads; ++i) {
    const int ns = i % kNamespaces, svc = (i / kNamespaces) / 10;
    pods += fmt::format(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod{}\n  namespace: ns{}\n"
        "  labels: {{app: svc{}, version: v{}}}\nspec: {{nodeName: node{}, "
        "serviceAccountName: sa{}}}\nstatus:\n  phase: Running\n  podIP: 10.{}.{}.{}\n",
        i, ns, svc, 1 + i % 2, 1 + i % 50, svc, 100 + i / 65536, (i / 256) % 256, i % 256);
    if ((i / kNamespaces) % 10 == 0) {
      const int s = i / kNamespaces / 10;
      const int vip = i / kNamespaces / 10 * kNamespaces + ns;
      services += fmt::format(
          "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc{}, namespace: ns{}}}\n"
          "spec:\n  selector: {{app: svc{}}}\n  clusterIP: 10.96.{}.{}\n"
          "  ports: [{{name: http, port: 80, targetPort: 8080}}]\n",
          s, ns, s, vip / 256, vip % 256);
    }
  }
  docs.push_back({"10-pods.yaml", std::move(pods)});
  docs.push_back({"20-services.yaml", std::move(services)});
  return docs;
}

}  // namespace ambit::test
