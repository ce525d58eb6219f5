// Router traces (`ambitctl explain`): every route considered up to the one matched, why each
// match failed, the same decision with and without a trace, and subsetEndpoints().
#include <gtest/gtest.h>

#include "tests/unit/waypoint/mesh_fixture.h"
#include "waypoint/router.h"

namespace ambit::waypoint::testing {
namespace {

using Criterion = MatchMismatch::Criterion;

constexpr char kRoutes[] = R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "yes"}}}, {queryParams: {tier: {exact: gold}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: post-items
    match: [{uri: {prefix: /items}, method: {exact: POST}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: port-9090
    match: [{port: 9090}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: api
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: my-app, subset: v1}}]
  - name: rest
    route:
    - {destination: {host: my-app, subset: v1}, weight: 80}
    - {destination: {host: my-app, subset: v2}, weight: 20}
)";

const v1::Service& myApp(const MeshIndex& index) {
  return *index.serviceByHost("my-app.default.svc.cluster.local");
}

TEST(WaypointRouterTrace, ListsEveryRouteTriedAndTheFirstFailingCriterion) {
  auto index = buildIndex(kRoutes);
  ASSERT_TRUE(index);
  Router router([] { return 0u; });
  rbac::HeaderList headers{{"x-canary", "no"}};
  RouteInput in{"GET", "/items/1", "tier=silver", &headers, 80};
  RouteTrace trace;
  RouteDecision d = router.route(*index, myApp(*index), in, &trace);
  ASSERT_NE(d.route, nullptr);
  EXPECT_EQ(d.route->name(), "rest");
  EXPECT_NE(trace.table, nullptr);
  ASSERT_EQ(trace.routes.size(), 5u);
  ASSERT_EQ(trace.routes[0].matches.size(), 2u);
  EXPECT_EQ(trace.routes[0].matches[0].criterion, Criterion::kHeader);
  EXPECT_EQ(trace.routes[0].matches[0].index, 0);
  EXPECT_EQ(trace.routes[0].matches[1].criterion, Criterion::kQueryParam);
  EXPECT_EQ(trace.routes[1].matches[0].criterion, Criterion::kMethod);
  EXPECT_EQ(trace.routes[2].matches[0].criterion, Criterion::kPort);
  EXPECT_EQ(trace.routes[3].matches[0].criterion, Criterion::kUri);
  EXPECT_FALSE(trace.routes[3].matched);
  EXPECT_TRUE(trace.routes[4].matched);
  EXPECT_TRUE(trace.routes[4].matches.empty());  // no match list: matches everything
}

TEST(WaypointRouterTrace, StopsAtTheMatchedRouteAndMatch) {
  auto index = buildIndex(kRoutes);
  Router router([] { return 0u; });
  rbac::HeaderList headers;
  RouteInput in{"GET", "/", "tier=gold", &headers, 80};
  RouteTrace trace;
  RouteDecision d = router.route(*index, myApp(*index), in, &trace);
  ASSERT_EQ(trace.routes.size(), 1u);
  EXPECT_TRUE(trace.routes[0].matched);
  ASSERT_EQ(trace.routes[0].matches.size(), 2u);
  EXPECT_TRUE(trace.routes[0].matches[1].matched());
  EXPECT_EQ(d.match, &trace.table->http(0).matches(1));
}

TEST(WaypointRouterTrace, TheTraceDoesNotChangeTheDecision) {
  auto index = buildIndex(kRoutes);
  Router plain([] { return 0u; });
  Router traced([] { return 0u; });
  const char* paths[] = {"/", "/api/x", "/items/2"};
  const char* methods[] = {"GET", "POST"};
  for (const char* path : paths) {
    for (const char* method : methods) {
      rbac::HeaderList headers;
      RouteInput in{method, path, "", &headers, 80};
      RouteTrace trace;
      RouteDecision a = plain.route(*index, myApp(*index), in);
      RouteDecision b = traced.route(*index, myApp(*index), in, &trace);
      EXPECT_EQ(a.route, b.route) << method << " " << path;
      EXPECT_EQ(a.subset, b.subset) << method << " " << path;
      EXPECT_EQ(a.endpoints, b.endpoints) << method << " " << path;
    }
  }
}

TEST(WaypointRouterTrace, WithoutRouteTableTheTraceIsEmpty) {
  auto index = buildIndex();
  Router router([] { return 0u; });
  rbac::HeaderList headers;
  RouteTrace trace;
  RouteDecision d = router.route(*index, myApp(*index), {"GET", "/", "", &headers, 80}, &trace);
  EXPECT_EQ(trace.table, nullptr);
  EXPECT_TRUE(trace.routes.empty());
  EXPECT_EQ(d.endpoints.size(), 3u);
}

TEST(WaypointRouterTrace, SubsetEndpointsSelectsByTheSubsetLabels) {
  auto index = buildIndex();
  auto v1 = subsetEndpoints(*index, myApp(*index), "v1", nullptr);
  ASSERT_TRUE(v1.has_value());
  ASSERT_EQ(v1->size(), 2u);
  for (const auto* w : *v1) EXPECT_EQ(w->labels().at("version"), "v1");
  auto all = subsetEndpoints(*index, myApp(*index), "", nullptr);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 3u);
  EXPECT_FALSE(subsetEndpoints(*index, myApp(*index), "v9", nullptr).has_value());
}

}  // namespace
}  // namespace ambit::waypoint::testing
