// VirtualService, DestinationRule and HTTPRoute translation.
#include <gtest/gtest.h>

#include <map>

#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using testing::loadOk;

TEST(VirtualService, FullHttpRouteTranslates) {
  const auto s = loadOk(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews, ratings.other]
  http:
  - name: canary
    match:
    - name: m1
      uri: {prefix: /api}
      headers:
        x-user: {exact: alice}
        x-any: {}
      queryParams:
        debug: {regex: "^(1|true)$"}
      method: {exact: GET}
      ignoreUriCase: true
      port: 8080
    - uri: {regex: "^/v[0-9]+/items$"}
      withoutHeaders:
        x-skip: {prefix: "y"}
    route:
    - destination: {host: reviews, port: {number: 9080}}
      headers:
        request:
          set: {x-route: canary}
    rewrite: {uri: /v2/api, authority: reviews-v2}
    retries: {attempts: 3, perTryTimeout: 100ms, retryOn: "5xx, connect-failure"}
    timeout: 2s
    fault:
      delay: {fixedDelay: 1.5s, percentage: {value: 10.5}}
      abort: {httpStatus: 503, percentage: {value: 1}}
    headers:
      request: {add: {x-a: "1"}, remove: [x-b]}
      response: {set: {x-c: "2"}}
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: new.example.com, redirectCode: 308}
)");
  ASSERT_EQ(s.route_tables_size(), 1);
  const auto& t = s.route_tables(0);
  ASSERT_EQ(t.hosts_size(), 2);
  EXPECT_EQ(t.hosts(0), "reviews.shop.svc.cluster.local");
  EXPECT_EQ(t.hosts(1), "ratings.other.svc.cluster.local");
  ASSERT_EQ(t.http_size(), 2);
  const auto& h = t.http(0);
  EXPECT_EQ(h.name(), "canary");
  ASSERT_EQ(h.matches_size(), 2);
  const auto& m = h.matches(0);
  EXPECT_EQ(m.uri_prefix(), "/api");
  ASSERT_EQ(m.headers_size(), 2);
  EXPECT_EQ(m.headers(0).name(), "x-user");
  EXPECT_EQ(m.headers(0).exact(), "alice");
  EXPECT_EQ(m.headers(1).name(), "x-any");
  EXPECT_TRUE(m.headers(1).present());
  EXPECT_EQ(m.query_params(0).regex(), "^(1|true)$");
  EXPECT_EQ(m.method().exact(), "GET");
  EXPECT_TRUE(m.ignore_uri_case());
  EXPECT_EQ(m.port(), 8080u);
  EXPECT_EQ(h.matches(1).uri_regex(), "^/v[0-9]+/items$");
  EXPECT_TRUE(h.matches(1).headers(0).invert());
  ASSERT_EQ(h.destinations_size(), 1);
  EXPECT_EQ(h.destinations(0).weight(), 100u) << "single destination without weight";
  EXPECT_EQ(h.destinations(0).port(), 9080u);
  EXPECT_EQ(h.destinations(0).headers().request_set().at("x-route"), "canary");
  EXPECT_EQ(h.rewrite().uri(), "/v2/api");
  EXPECT_EQ(h.rewrite().authority(), "reviews-v2");
  EXPECT_EQ(h.retries().attempts(), 3u);
  EXPECT_EQ(h.retries().per_try_timeout_ms(), 100u);
  ASSERT_EQ(h.retries().retry_on_size(), 2);
  EXPECT_EQ(h.retries().retry_on(1), "connect-failure");
  EXPECT_EQ(h.timeout_ms(), 2000u);
  EXPECT_EQ(h.fault().delay_ms(), 1500u);
  EXPECT_DOUBLE_EQ(h.fault().delay_percent(), 10.5);
  EXPECT_EQ(h.fault().abort_status(), 503u);
  EXPECT_DOUBLE_EQ(h.fault().abort_percent(), 1.0);
  EXPECT_EQ(h.headers().request_add().at("x-a"), "1");
  EXPECT_EQ(h.headers().request_remove(0), "x-b");
  EXPECT_EQ(h.headers().response_set().at("x-c"), "2");
  const auto& r = t.http(1);
  EXPECT_EQ(r.matches(0).uri_exact(), "/old");
  EXPECT_EQ(r.redirect().uri(), "/new");
  EXPECT_EQ(r.redirect().authority(), "new.example.com");
  EXPECT_EQ(r.redirect().redirect_code(), 308u);
}

TEST(DestinationRule, SubsetsAndTrafficPolicy) {
  const auto s = loadOk(R"(apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    outlierDetection: {consecutive5xxErrors: 5, baseEjectionTime: 30s, interval: 10s}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
)");
  ASSERT_EQ(s.destination_policies_size(), 1);
  const auto& d = s.destination_policies(0);
  EXPECT_EQ(d.host(), "reviews.shop.svc.cluster.local");
  EXPECT_EQ(d.traffic_policy().lb_policy(), "LEAST_REQUEST");
  EXPECT_EQ(d.traffic_policy().outlier_consecutive_5xx(), 5u);
  EXPECT_EQ(d.traffic_policy().outlier_ejection_ms(), 30000u);
  ASSERT_EQ(d.subsets_size(), 1);
  EXPECT_EQ(d.subsets(0).name(), "v1");
}

TEST(DestinationRule, OutlierDetectionTakesIstioDefaultsAndIsOffWhenAbsent) {
  const auto s = loadOk(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: shop}
spec:
  host: a
  trafficPolicy: {outlierDetection: {}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: shop}
spec:
  host: b
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 1.5s, maxEjectionPercent: 50,
                       minHealthPercent: 20}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: c, namespace: shop}
spec:
  host: c
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
)");
  ASSERT_EQ(s.destination_policies_size(), 3);
  std::map<std::string, v1::TrafficPolicy> by_name;
  for (const auto& d : s.destination_policies()) by_name[d.name()] = d.traffic_policy();
  EXPECT_TRUE(by_name["a"].outlier_detection());
  EXPECT_EQ(by_name["a"].outlier_consecutive_5xx(), 5u);
  EXPECT_EQ(by_name["a"].outlier_ejection_ms(), 30000u);
  EXPECT_EQ(by_name["a"].outlier_max_ejection_percent(), 10u);
  EXPECT_EQ(by_name["a"].outlier_min_health_percent(), 0u);
  EXPECT_TRUE(by_name["b"].outlier_detection());
  EXPECT_EQ(by_name["b"].outlier_consecutive_5xx(), 2u);
  EXPECT_EQ(by_name["b"].outlier_ejection_ms(), 1500u);
  EXPECT_EQ(by_name["b"].outlier_max_ejection_percent(), 50u);
  EXPECT_EQ(by_name["b"].outlier_min_health_percent(), 20u);
  EXPECT_FALSE(by_name["c"].outlier_detection());
}

TEST(HttpRoute, MeshRouteWithServiceParentTranslates) {
  const auto s = loadOk(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: shop}
spec:
  parentRefs:
  - {group: "", kind: Service, name: reviews, port: 9080}
  - {name: shop-waypoint}
  hostnames: [reviews.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{name: x-user, value: alice}, {type: RegularExpression, name: x-id, value: "[0-9]+"}]
      queryParams: [{name: q, value: "1"}]
      method: POST
    - path: {type: Exact, value: /exact}
    - path: {type: RegularExpression, value: "^/r.*"}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-set, value: a}]
        add: [{name: x-add, value: b}]
        remove: [x-del]
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-resp, value: c}]}
    - type: URLRewrite
      urlRewrite: {hostname: backend, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    backendRefs:
    - {name: reviews-v1, port: 9080, weight: 90}
    - {name: reviews-v2, namespace: canary, port: 9080, weight: 10}
    timeouts: {request: 500ms}
  - matches: [{path: {value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: new.example.com, statusCode: 301,
                        path: {type: ReplaceFullPath, replaceFullPath: /new}}
  - backendRefs: [{name: reviews-v1, port: 9080}]
)");
  ASSERT_EQ(s.route_tables_size(), 1);
  const auto& t = s.route_tables(0);
  EXPECT_EQ(t.origin_kind(), "HTTPRoute");
  ASSERT_EQ(t.parent_refs_size(), 2);
  EXPECT_EQ(t.parent_refs(0), "Service/shop/reviews");
  EXPECT_EQ(t.parent_refs(1), "Gateway/shop/shop-waypoint");
  ASSERT_EQ(t.hosts_size(), 2);
  EXPECT_EQ(t.hosts(0), "reviews.shop.svc.cluster.local");
  EXPECT_EQ(t.hosts(1), "reviews.example.com");
  ASSERT_EQ(t.http_size(), 3);
  const auto& r = t.http(0);
  ASSERT_EQ(r.matches_size(), 3);
  EXPECT_EQ(r.matches(0).uri_prefix(), "/api");
  EXPECT_EQ(r.matches(0).headers(0).exact(), "alice");
  EXPECT_EQ(r.matches(0).headers(1).regex(), "[0-9]+");
  EXPECT_EQ(r.matches(0).query_params(0).exact(), "1");
  EXPECT_EQ(r.matches(0).method().exact(), "POST");
  EXPECT_EQ(r.matches(1).uri_exact(), "/exact");
  EXPECT_EQ(r.matches(2).uri_regex(), "^/r.*");
  EXPECT_EQ(r.headers().request_set().at("x-set"), "a");
  EXPECT_EQ(r.headers().request_add().at("x-add"), "b");
  EXPECT_EQ(r.headers().request_remove(0), "x-del");
  EXPECT_EQ(r.headers().response_set().at("x-resp"), "c");
  EXPECT_EQ(r.rewrite().uri(), "/v2");
  EXPECT_EQ(r.rewrite().authority(), "backend");
  ASSERT_EQ(r.destinations_size(), 2);
  EXPECT_EQ(r.destinations(0).host(), "reviews-v1.shop.svc.cluster.local");
  EXPECT_EQ(r.destinations(0).weight(), 90u);
  EXPECT_EQ(r.destinations(1).host(), "reviews-v2.canary.svc.cluster.local");
  EXPECT_EQ(r.destinations(1).weight(), 10u);
  EXPECT_EQ(r.timeout_ms(), 500u);
  EXPECT_EQ(t.http(1).matches(0).uri_prefix(), "/old") << "path type defaults to PathPrefix";
  EXPECT_EQ(t.http(1).redirect().scheme(), "https");
  EXPECT_EQ(t.http(1).redirect().uri(), "/new");
  EXPECT_EQ(t.http(1).redirect().redirect_code(), 301u);
  EXPECT_EQ(t.http(2).destinations(0).weight(), 1u) << "Gateway API default weight";
}

}  // namespace
}  // namespace ambit::config
