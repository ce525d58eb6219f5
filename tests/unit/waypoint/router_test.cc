// Router: match kinds, weighted subsets with injected randomness, rule order, round robin.
#include "waypoint/router.h"

#include <gtest/gtest.h>

#include <map>

#include "common/config/endpoints.h"
#include "tests/unit/waypoint/mesh_fixture.h"

namespace ambit::waypoint::testing {
namespace {

// Cycles through 0..n-1 scaled over [0, 2^32): a perfectly even "random" source.
RandomSource evenSource(uint32_t n) {
  auto i = std::make_shared<uint64_t>(0);
  return [i, n]() { return static_cast<uint32_t>(((*i)++ % n) * (4294967296ull / n)); };
}

struct Req {
  std::string method = "GET";
  std::string path = "/";
  std::string query;
  rbac::HeaderList headers;
  RouteInput input() const { return {method, path, query, &headers, 80}; }
};

const v1::Service& myApp(const MeshIndex& index) {
  return *index.serviceByHost("my-app.default.svc.cluster.local");
}

std::string endpointName(const RouteDecision& d) {
  return d.endpoints.empty() ? "<none " + std::to_string(d.direct_status) + ">"
                             : d.endpoints.front()->name();
}

TEST(WaypointRouter, SeedVirtualServiceSplitsEightyTwenty) {
  auto index = buildIndex(seedVirtualService());
  ASSERT_TRUE(index);
  Router router(evenSource(100));
  std::map<std::string, int> subsets;
  Req req;
  for (int i = 0; i < 1000; ++i) {
    RouteDecision d = router.route(*index, myApp(*index), req.input());
    ASSERT_EQ(d.direct_status, 0) << d.reason;
    ++subsets[d.subset];
    EXPECT_EQ(d.target_port, 8080);
    for (const auto* w : d.endpoints) EXPECT_EQ(w->labels().at("version"), d.subset);
  }
  EXPECT_EQ(subsets["v1"], 800);
  EXPECT_EQ(subsets["v2"], 200);
}

TEST(WaypointRouter, RoundRobinWithinSubsetAndWithoutRouteTable) {
  auto index = buildIndex(seedVirtualService());
  Router router([] { return 0u; });  // always v1
  Req req;
  std::map<std::string, int> hits;
  for (int i = 0; i < 10; ++i)
    ++hits[endpointName(router.route(*index, myApp(*index), req.input()))];
  EXPECT_EQ(hits["my-app-v1"], 5);
  EXPECT_EQ(hits["my-app-v1b"], 5);

  auto plain = buildIndex();
  hits.clear();
  for (int i = 0; i < 9; ++i)
    ++hits[endpointName(router.route(*plain, myApp(*plain), req.input()))];
  EXPECT_EQ(hits.size(), 3u);
  for (const auto& [name, n] : hits) EXPECT_EQ(n, 3) << name;
}

constexpr char kMatchRoutes[] = R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: canary-header
    match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: exact
    match: [{uri: {exact: /v2-only}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: regex-post
    match: [{uri: {regex: "/items/[0-9]+"}, method: {exact: POST}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: query
    match: [{queryParams: {tier: {prefix: gold}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: api-prefix
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: my-app, subset: v1}}]
  - name: split
    match: [{uri: {prefix: /}}]
    route:
    - {destination: {host: my-app, subset: v1}, weight: 100}
    - {destination: {host: my-app, subset: v2}, weight: 0}
)";

TEST(WaypointRouter, MatchesInOrderHeaderBeforeWeights) {
  auto index = buildIndex(kMatchRoutes);
  Router router(evenSource(7));
  auto routeOf = [&](const Req& r) {
    RouteDecision d = router.route(*index, myApp(*index), r.input());
    return (d.route ? d.route->name() : "-") + ":" + d.subset;
  };
  Req plain;
  EXPECT_EQ(routeOf(plain), "split:v1");
  Req canary;
  canary.headers.add("X-Canary", "yes");
  canary.path = "/api/x";
  EXPECT_EQ(routeOf(canary), "canary-header:v2");
  Req exact;
  exact.path = "/v2-only";
  EXPECT_EQ(routeOf(exact), "exact:v2");
  exact.path = "/v2-only/more";
  EXPECT_EQ(routeOf(exact), "split:v1");
  Req post;
  post.method = "POST";
  post.path = "/items/42";
  EXPECT_EQ(routeOf(post), "regex-post:v2");
  post.method = "GET";
  EXPECT_EQ(routeOf(post), "split:v1");
  post.method = "POST";
  post.path = "/items/42x";
  EXPECT_EQ(routeOf(post), "split:v1");
  Req query;
  query.query = "a=1&tier=golden";
  EXPECT_EQ(routeOf(query), "query:v2");
  query.query = "tier=silver";
  EXPECT_EQ(routeOf(query), "split:v1");
  Req api;
  api.path = "/api/users";
  EXPECT_EQ(routeOf(api), "api-prefix:v1");
}

TEST(WaypointRouter, NoMatchingRouteIs404) {
  auto index = buildIndex(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {prefix: /only}}]
    route: [{destination: {host: my-app, subset: v1}}]
)");
  Router router;
  Req req;
  req.path = "/elsewhere";
  RouteDecision d = router.route(*index, myApp(*index), req.input());
  EXPECT_EQ(d.direct_status, 404);
  EXPECT_TRUE(d.endpoints.empty());
}

TEST(WaypointRouter, HttpRouteWeightsBackendServicesAndMatchesHeaders) {
  auto index = buildIndex(test::canaryHttpRoute());
  ASSERT_TRUE(index);
  Router router(evenSource(100));
  std::map<std::string, int> services;
  Req req;
  for (int i = 0; i < 1000; ++i) {
    RouteDecision d = router.route(*index, myApp(*index), req.input());
    ASSERT_EQ(d.direct_status, 0) << d.reason;
    ++services[d.service->name()];
    EXPECT_EQ(d.target_port, 8080);
  }
  EXPECT_EQ(services["my-app-v1"], 800);
  EXPECT_EQ(services["my-app-v2"], 200);
  Req canary;
  canary.headers.add("x-canary", "yes");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(endpointName(router.route(*index, myApp(*index), canary.input())), "my-app-v2");
  }
}

// A regex route against the longest path a request can carry: std::regex recursed once per
// character and overflowed the stack at ~30 KB; RE2 matches in linear time.
TEST(WaypointRouter, RegexMatchOnAHugePathNeitherCrashesNorMisses) {
  auto index = buildIndex(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: api
    match: [{uri: {regex: "/api/(a|b)*.*"}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: rest
    route: [{destination: {host: my-app, subset: v1}}]
)");
  ASSERT_TRUE(index);
  Router router(evenSource(100));
  Req huge;
  huge.path = "/api/" + std::string(200000, 'a');
  RouteDecision d = router.route(*index, myApp(*index), huge.input());
  ASSERT_NE(d.route, nullptr);
  EXPECT_EQ(d.route->name(), "api");
  huge.path = "/other/" + std::string(200000, 'a');
  d = router.route(*index, myApp(*index), huge.input());
  ASSERT_NE(d.route, nullptr);
  EXPECT_EQ(d.route->name(), "rest");
}

TEST(WaypointRouter, LeastRequestPrefersTheLessBusyEndpoint) {
  auto index = buildIndex(R"(
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-app-v1, namespace: default}
spec:
  host: my-app-v1
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
)");
  ASSERT_TRUE(index);
  const v1::Service& v1only = *index->serviceByHost("my-app-v1.default.svc.cluster.local");
  Router router(evenSource(7));
  std::map<std::string, size_t> load{{"my-app-v1", 5}, {"my-app-v1b", 0}};
  router.setLoadProbe([&](const v1::Workload& w) { return load[w.name()]; });
  Req req;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(endpointName(router.route(*index, v1only, req.input())), "my-app-v1b");
  }
  load = {{"my-app-v1", 0}, {"my-app-v1b", 3}};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(endpointName(router.route(*index, v1only, req.input())), "my-app-v1");
  }
  // The other service keeps round robin.
  std::map<std::string, int> hits;
  for (int i = 0; i < 6; ++i)
    ++hits[endpointName(router.route(*index, myApp(*index), req.input()))];
  EXPECT_EQ(hits.size(), 3u);
}

// Pods that are terminating or not ready get no requests while a ready pod is left (the
// waypoint Deployment's own roll and every app roll depend on it); with none left they do.
TEST(WaypointRouter, NotReadyEndpointsOnlyWhenNoReadyOneIsLeft) {
  const std::string not_ready_v1b = R"(apiVersion: v1
kind: Pod
metadata: {name: my-app-v1b, namespace: default, labels: {app: my-app, version: v1},
           deletionTimestamp: "2026-12-05T10:00:00Z"}
spec: {nodeName: node1, serviceAccountName: my-app}
status: {podIP: 127.0.0.4}
)";
  // Both v1 pods take turns when ready (RoundRobinWithinSubsetAndWithoutRouteTable); here
  // my-app-v1b is terminating (it replaces the seed's pod of that name).
  Router router([] { return 0u; });  // always v1
  Req req;
  std::map<std::string, int> hits;
  std::string mesh = test::meshYaml();
  const auto at = mesh.find("metadata: {name: my-app-v1b");
  ASSERT_NE(at, std::string::npos);
  const auto begin = mesh.rfind("apiVersion", at), end = mesh.find("---", at);
  mesh.replace(begin, end - begin, not_ready_v1b);
  config::LoadResult r =
      config::translate({{"mesh.yaml", mesh}, {"vs.yaml", seedVirtualService()}});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front().toString();
  auto terminating = MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(r.snapshot));
  ASSERT_TRUE(terminating);
  for (int i = 0; i < 10; ++i) {
    RouteDecision d = router.route(**terminating, myApp(**terminating), req.input());
    ASSERT_EQ(d.endpoints.size(), 1u);  // not even as a retry target
    ++hits[endpointName(d)];
  }
  EXPECT_EQ(hits["my-app-v1"], 10);

  // my-app-v2 alone in subset v2 and not ready: still used, nothing else could answer.
  mesh = test::meshYaml();
  const std::string v2 = "status: {podIP: 127.0.0.3}";
  mesh.replace(mesh.find(v2), v2.size(),
               "status: {podIP: 127.0.0.3, conditions: [{type: Ready, status: \"False\"}]}");
  r = config::translate({{"mesh.yaml", mesh}, {"vs.yaml", seedVirtualService()}});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front().toString();
  auto unready = MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(r.snapshot));
  ASSERT_TRUE(unready);
  Router to_v2([] { return 99u; });  // always v2 under the seed's 80/20
  RouteDecision d = to_v2.route(**unready, myApp(**unready), req.input());
  ASSERT_EQ(d.direct_status, 0) << d.reason;
  EXPECT_EQ(endpointName(d), "my-app-v2");
}

// The router keeps each index's candidate endpoints between requests: one router given a newer
// index (v1b terminating), then the older one again (requests keep the index they started
// with), answers from the index it is given each time.
TEST(WaypointRouter, OneRouterFollowsTheEndpointsOfTheIndexItIsGiven) {
  auto both = buildIndex(seedVirtualService());
  ASSERT_TRUE(both);
  std::string mesh = test::meshYaml();
  const auto at = mesh.find("metadata: {name: my-app-v1b");
  ASSERT_NE(at, std::string::npos);
  mesh.insert(at + std::string_view("metadata: {").size(),
              "deletionTimestamp: \"2026-12-05T10:00:00Z\", ");
  config::LoadResult r =
      config::translate({{"mesh.yaml", mesh}, {"vs.yaml", seedVirtualService()}});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front().toString();
  auto one = MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(r.snapshot));
  ASSERT_TRUE(one);
  Router router([] { return 0u; });  // always v1
  Req req;
  for (const MeshIndex* index : {both.get(), one->get(), both.get(), one->get()}) {
    for (int i = 0; i < 3; ++i) {
      RouteDecision d = router.route(*index, myApp(*index), req.input());
      ASSERT_EQ(d.direct_status, 0) << d.reason;
      EXPECT_EQ(d.endpoints.size(), index == both.get() ? 2u : 1u) << "serial " << index->serial();
      for (const auto* w : d.endpoints) {
        EXPECT_EQ(index->workloadByUid(w->uid()), w) << "an endpoint of another index";
      }
    }
    // Pointers into an index are only compared with its serial: another index's lists go (they
    // could match a later index allocated at the same addresses, and would pile up).
    EXPECT_EQ(router.cachedCandidates(), 1u);
  }
}

// A named targetPort resolves per pod from its container ports; a pod without that port name
// is no endpoint of the Service (tests/data/named-port-service.yaml).
TEST(WaypointRouter, NamedTargetPortResolvesPerPod) {
  const std::string& yaml = test::testData("named-port-service.yaml");
  auto portsChosen = [](const std::string& extra, size_t want_endpoints) {
    auto index = buildIndex(extra);
    std::map<std::string, uint32_t> ports;
    if (!index) return ports;
    const v1::Service* api = index->serviceByHost("api.default.svc.cluster.local");
    if (api == nullptr) {
      ADD_FAILURE() << "no Service api";
      return ports;
    }
    Router router([] { return 0u; });
    Req req;
    for (int i = 0; i < 4; ++i) {
      RouteDecision d = router.route(*index, *api, req.input());
      EXPECT_EQ(d.direct_status, 0) << d.reason;
      EXPECT_EQ(d.endpoints.size(), want_endpoints);
      if (d.endpoints.empty()) continue;
      const v1::Workload& w = *d.endpoints.front();
      ports[w.name()] = *config::endpointPort(d.service_port, w, d.target_port);
    }
    return ports;
  };
  // api-b is terminating and api-c has no port named web: api-a alone, on its 8081.
  EXPECT_EQ(portsChosen(yaml, 1), (std::map<std::string, uint32_t>{{"api-a", 8081}}));
  // Without api-a, the terminating api-b on its own 9091 (never api-c).
  EXPECT_EQ(portsChosen(yaml.substr(yaml.find("---") + 4), 1),
            (std::map<std::string, uint32_t>{{"api-b", 9091}}));
}

TEST(WaypointRouter, QueryParamLookup) {
  EXPECT_EQ(queryParam("a=1&b=2", "b"), "2");
  EXPECT_EQ(queryParam("a=1&flag", "flag"), "");
  EXPECT_FALSE(queryParam("ab=1", "a"));
  EXPECT_FALSE(queryParam("", "a"));
}

}  // namespace
}  // namespace ambit::waypoint::testing
