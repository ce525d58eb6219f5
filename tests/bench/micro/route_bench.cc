// Waypoint route matching (waypoint::Router::route) on the unit tests' mesh: the seed 80/20
// VirtualService, and a 100-rule VirtualService (header + uri prefix matches) where only the
// last rule matches, with and without regex matches.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <stdexcept>

#include "common/config/loader.h"
#include "tests/support/test_data.h"
#include "waypoint/mesh_index.h"
#include "waypoint/router.h"

namespace ambit::waypoint {
namespace {

// `rules` rules; rule i matches header x-tenant: t<i> and uri prefix /api/<i>/ (or a regex).
std::string manyRules(int rules, bool regex) {
  std::string y =
      "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
      "metadata: {name: my-app, namespace: default}\nspec:\n  hosts: [my-app]\n  http:\n";
  for (int i = 0; i < rules; ++i) {
    y += fmt::format("  - match:\n    - headers: {{x-tenant: {{exact: t{}}}}}\n", i);
    y += regex ? fmt::format("      uri: {{regex: \"/api/{}/[a-z]+/[0-9]+\"}}\n", i)
               : fmt::format("      uri: {{prefix: /api/{}/}}\n", i);
    y += fmt::format("    route:\n    - destination: {{host: my-app, subset: v{}}}\n", 1 + i % 2);
  }
  return y;
}

std::shared_ptr<const MeshIndex> index(const std::string& routes) {
  auto r = config::translate({{"mesh.yaml", test::meshYaml()}, {"routes.yaml", routes}});
  if (!r.ok()) throw std::runtime_error(r.errors.front().toString());
  auto idx = MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(std::move(r.snapshot)));
  if (!idx) throw std::runtime_error(idx.error().message);
  return *idx;
}

void run(benchmark::State& state, const std::string& routes, const std::string& path,
         const std::string& tenant) {
  const auto idx = index(routes);
  const v1::Service& svc = *idx->serviceByHost("my-app.default.svc.cluster.local");
  rbac::HeaderList headers;
  headers.add("host", "my-app");
  headers.add("user-agent", "hey/0.0.1");
  if (!tenant.empty()) headers.add("x-tenant", tenant);
  Router router;
  const RouteInput in{"GET", path, "", &headers, 80};
  for (auto _ : state) {
    RouteDecision d = router.route(*idx, svc, in);
    if (d.endpoints.empty()) throw std::runtime_error("no endpoint");
    benchmark::DoNotOptimize(d);
  }
}

void BM_RouteSeed8020(benchmark::State& s) {
  run(s, test::seedVirtualService(), "/bytes/1024", "");
}
void BM_Route100RulesPrefixLastMatches(benchmark::State& s) {
  run(s, manyRules(100, false), "/api/99/items/7", "t99");
}
void BM_Route100RulesRegexLastMatches(benchmark::State& s) {
  run(s, manyRules(100, true), "/api/99/items/7", "t99");
}

BENCHMARK(BM_RouteSeed8020);
BENCHMARK(BM_Route100RulesPrefixLastMatches);
BENCHMARK(BM_Route100RulesRegexLastMatches);

}  // namespace
}  // namespace ambit::waypoint
