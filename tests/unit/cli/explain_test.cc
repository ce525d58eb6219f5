// ambitctl explain, in-process: the decision chain on the seed configurations (the ambient demo
// with its waypoint, the waypoint tests' mesh) for allowed, denied (L7, L4, mTLS, JWT) and
// weighted requests, and clear errors for what it cannot resolve.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/explain/explanation.h"
#include "tests/support/jwt_signer.h"
#include "tests/support/test_data.h"

namespace ambit::cli {
namespace {

using ::testing::HasSubstr;

const std::string kDemoDir = std::string(AMBIT_SOURCE_DIR) + "/deploy/samples/ambient-demo";

MeshSource demo(const std::string& extra = "") {
  config::ConfigErrors errors;
  auto docs = config::readConfigDir(kDemoDir, errors);
  EXPECT_TRUE(errors.empty());
  if (!extra.empty()) docs.push_back({"extra.yaml", extra});
  MeshSource src = MeshSource::fromDocuments(std::move(docs));
  for (const auto& e : src.result().errors) ADD_FAILURE() << e.toString();
  return src;
}

MeshSource testMesh(const std::string& extra = "") {
  std::vector<config::SourceDocument> docs{{"mesh.yaml", test::meshYaml()}};
  if (!extra.empty()) docs.push_back({"extra.yaml", extra});
  MeshSource src = MeshSource::fromDocuments(std::move(docs));
  for (const auto& e : src.result().errors) ADD_FAILURE() << e.toString();
  return src;
}

Explanation explainOk(const MeshSource& src, const ExplainRequest& req) {
  auto e = explainRequest(src, req);
  EXPECT_TRUE(e) << (e ? "" : e.error().message);
  return e ? std::move(*e) : Explanation{};
}

const ExplainStep* stepOf(const Explanation& e, const std::string& stage) {
  for (const auto& s : e.steps) {
    if (s.stage == stage) return &s;
  }
  return nullptr;
}

std::string allText(const ExplainRequest& req, const Explanation& e) {
  return renderExplanationText(req, e);
}

TEST(Explain, DemoClientThroughTheWaypointSplitsEightyTwenty) {
  const MeshSource src = demo();
  ExplainRequest req{.from = "demo/client", .to = "my-app"};
  const Explanation e = explainOk(src, req);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kAllow) << allText(req, e);
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.route, "#0");
  ASSERT_EQ(e.destinations.size(), 2u);
  EXPECT_EQ(e.destinations[0].service, "demo/my-app");
  EXPECT_EQ(e.destinations[0].subset, "v1");
  EXPECT_EQ(e.destinations[0].weight, 80u);
  EXPECT_THAT(e.destinations[0].endpoints,
              ::testing::ElementsAre("demo/my-app-v1 10.10.1.11:8080"));
  EXPECT_EQ(e.destinations[1].subset, "v2");
  EXPECT_EQ(e.destinations[1].weight, 20u);
  EXPECT_THAT(e.destinations[1].endpoints,
              ::testing::ElementsAre("demo/my-app-v2 10.10.2.11:8080"));
  const ExplainStep* source = stepOf(e, "source");
  ASSERT_NE(source, nullptr);
  EXPECT_THAT(source->summary, HasSubstr("captured by the mesh"));
  EXPECT_EQ(source->origin.toString(), kDemoDir + "/namespace.yaml:1");
  const ExplainStep* wp = stepOf(e, "waypoint");
  ASSERT_NE(wp, nullptr);
  EXPECT_THAT(wp->summary, HasSubstr("demo/demo-waypoint"));
  EXPECT_THAT(wp->summary, HasSubstr("10.10.2.20:15008"));
  const std::string text = allText(req, e);
  // The endpoints' ztunnels admit the waypoint by the L4 policy, which names its line.
  EXPECT_THAT(text, HasSubstr("AuthorizationPolicy demo/my-app-from-client (ALLOW) [" + kDemoDir +
                              "/security.yaml:10]: matches"));
  EXPECT_THAT(text, HasSubstr("Verdict: ALLOW"));
}

TEST(Explain, L7DenyAtTheWaypointNamesThePolicyAndRule) {
  const MeshSource src = demo(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: demo}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules:
  - to: [{operation: {methods: [POST]}}]
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
)");
  ExplainRequest req{.from = "demo/client", .to = "my-app.demo:80", .path = "/public/../admin"};
  const Explanation e = explainOk(src, req);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kDeny) << allText(req, e);
  EXPECT_EQ(e.status, 403);
  EXPECT_EQ(e.decided_by, "AuthorizationPolicy demo/deny-admin");
  EXPECT_EQ(e.decided_at.toString(), "extra.yaml:1");
  EXPECT_EQ(e.reason, "denied by policy demo/deny-admin rules[1]");
  const std::string text = allText(req, e);
  EXPECT_THAT(text, HasSubstr("normalised to /admin"));
  EXPECT_THAT(text, HasSubstr("rules[0] (line 8): no match (to: no operation matched)"));
  EXPECT_THAT(text, HasSubstr("rules[1] (line 9): MATCH"));
  EXPECT_TRUE(e.destinations.empty());  // never routed
  req.path = "/public";
  EXPECT_EQ(explainOk(src, req).verdict, Explanation::Verdict::kAllow);
}

TEST(Explain, HeaderRouteSaysWhyEarlierRoutesDidNotMatch) {
  // Service my-app opts into a waypoint with its own label; the route sends x-canary to v2.
  std::string mesh = test::meshYaml();
  mesh.replace(mesh.find("metadata: {name: my-app, namespace: default}"), 44,
               "metadata: {name: my-app, namespace: default, labels: {istio.io/use-waypoint: "
               "waypoint}}");
  const MeshSource bound = MeshSource::fromDocuments({{"mesh.yaml", mesh}, {"extra.yaml", R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: default}
spec: {gatewayClassName: istio-waypoint}
status: {addresses: [{type: IPAddress, value: 10.1.9.9}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - route:
    - {destination: {host: my-app, subset: v1}, weight: 70}
    - {destination: {host: my-app, subset: v2}, weight: 30}
)"}});
  for (const auto& err : bound.result().errors) ADD_FAILURE() << err.toString();
  ExplainRequest plain{.from = "10.1.2.3", .to = "10.96.0.10:80"};
  const Explanation e = explainOk(bound, plain);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kAllow) << allText(plain, e);
  EXPECT_EQ(e.route, "#1");
  ASSERT_EQ(e.destinations.size(), 2u);
  EXPECT_EQ(e.destinations[0].weight, 70u);
  EXPECT_THAT(e.destinations[0].endpoints,
              ::testing::ElementsAre("default/my-app-v1 127.0.0.2:8080",
                                     "default/my-app-v1b 127.0.0.4:8080"));
  EXPECT_THAT(e.destinations[1].endpoints,
              ::testing::ElementsAre("default/my-app-v2 127.0.0.3:8080"));
  EXPECT_THAT(allText(plain, e),
              HasSubstr("route #0 (canary) (line 14): not matched (match[0]: header x-canary does "
                        "not match)"));
  ExplainRequest canary{.from = "default/client", .to = "my-app", .headers = {{"x-canary", "yes"}}};
  const Explanation c = explainOk(bound, canary);
  EXPECT_EQ(c.route, "#0 (canary)");
  ASSERT_EQ(c.destinations.size(), 1u);
  EXPECT_EQ(c.destinations[0].subset, "v2");
}

TEST(Explain, L4DenyWithoutAWaypoint) {
  const MeshSource src = testMesh(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-others, namespace: default}
spec:
  selector: {matchLabels: {app: my-app}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/other]}}]}]
)");
  ExplainRequest req{.from = "default/client", .to = "my-app:80"};
  const Explanation e = explainOk(src, req);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kDeny) << allText(req, e);
  EXPECT_EQ(e.status, 0);  // the ztunnel refuses the connection
  EXPECT_THAT(e.reason, HasSubstr("3 of 3 endpoints refuse the connection"));
  const std::string text = allText(req, e);
  EXPECT_THAT(text, HasSubstr("no waypoint"));
  EXPECT_THAT(text, HasSubstr("rules[0] (line 7): no match (from: no source matched)"));
  EXPECT_THAT(text, HasSubstr("no ALLOW policy matched"));
  // Nothing matched: the ALLOW policy that applied is what the request needed.
  EXPECT_EQ(e.decided_by, "AuthorizationPolicy default/only-others");
  EXPECT_EQ(e.decided_at.toString(), "extra.yaml:1");
}

TEST(Explain, PlaintextClientMeetsStrictMtls) {
  std::string mesh = test::meshYaml();
  mesh.replace(mesh.find("metadata: {name: client, namespace: default, labels: {app: client}}"), 67,
               "metadata: {name: client, namespace: default, labels: {app: client, "
               "istio.io/dataplane-mode: none}}");
  const MeshSource src = MeshSource::fromDocuments(
      {{"mesh.yaml", mesh},
       {"pa.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: "
        "strict, namespace: default}\nspec: {mtls: {mode: STRICT}}\n"}});
  ExplainRequest req{.from = "default/client", .to = "my-app"};
  const Explanation e = explainOk(src, req);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kDeny) << allText(req, e);
  EXPECT_EQ(e.decided_by, "PeerAuthentication default/strict");
  EXPECT_EQ(e.decided_at.toString(), "pa.yaml:1");
  EXPECT_THAT(stepOf(e, "source")->summary, HasSubstr("NOT captured"));
}

TEST(Explain, JwtIsValidatedWithInlineKeysOnly) {
  test::JwtSigner key = test::JwtSigner::ec("k1");
  const std::string authn = R"(apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: my-app}]
  jwtRules:
  - {issuer: "https://issuer.local", jwks: ')" +
                            test::JwtSigner::jwks(key) + R"('}
  - {issuer: "https://remote.example", jwksUri: "https://remote.example/jwks"}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: need-alice, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: my-app}]
  rules: [{from: [{source: {requestPrincipals: ["*/alice"]}}]}]
)";
  const MeshSource src = demo(authn);
  ExplainRequest req{.from = "demo/client", .to = "my-app"};
  req.jwt = key.sign(test::JwtSigner::claims("https://issuer.local", "alice"));
  Explanation e = explainOk(src, req);
  EXPECT_EQ(e.verdict, Explanation::Verdict::kAllow) << allText(req, e);
  EXPECT_THAT(stepOf(e, "authn")->summary,
              HasSubstr("request principal https://issuer.local/alice"));
  req.jwt =
      test::JwtSigner::ec("k1").sign(test::JwtSigner::claims("https://issuer.local", "alice"));
  e = explainOk(src, req);
  EXPECT_EQ(e.status, 401) << allText(req, e);
  EXPECT_EQ(e.decided_by, "RequestAuthentication demo/jwt jwtRules[0]");
  req.jwt = key.sign(test::JwtSigner::claims("https://remote.example", "alice"));
  e = explainOk(src, req);
  EXPECT_THAT(stepOf(e, "authn")->summary,
              HasSubstr("not checked: remote JWKS (https://remote.example/jwks)"));
  EXPECT_EQ(e.verdict, Explanation::Verdict::kAllow) << allText(req, e);
  req.jwt.clear();
  e = explainOk(src, req);
  EXPECT_EQ(e.status, 403) << allText(req, e);
  EXPECT_EQ(e.reason, "no ALLOW policy matched (the ALLOW policies above apply)");
  EXPECT_EQ(e.decided_by, "AuthorizationPolicy demo/need-alice");
}

TEST(Explain, EveryFormOfToNamesTheSameService) {
  const MeshSource src = demo();
  for (const std::string to : {"my-app", "my-app.demo:80", "my-app.demo.svc.cluster.local",
                               "demo/my-app", "demo/my-app:80", "10.96.0.10:80"}) {
    const Explanation e = explainOk(src, {.from = "demo/client", .to = to});
    EXPECT_EQ(e.verdict, Explanation::Verdict::kAllow) << to;
    ASSERT_EQ(e.destinations.size(), 2u) << to;
    EXPECT_EQ(e.destinations[0].service, "demo/my-app") << to;
  }
}

TEST(Explain, AClientOutsideTheMeshBypassesTheWaypoint) {
  const MeshSource src = demo();
  ExplainRequest req{.from = "192.0.2.7", .to = "10.96.0.10:80"};
  const Explanation e = explainOk(src, req);
  EXPECT_THAT(stepOf(e, "source")->summary, HasSubstr("not a pod of the mesh"));
  EXPECT_THAT(stepOf(e, "waypoint")->summary, HasSubstr("is bypassed"));
  // Mesh-wide STRICT (istio-system/default) refuses its plaintext at every endpoint.
  EXPECT_EQ(e.verdict, Explanation::Verdict::kDeny) << allText(req, e);
  EXPECT_EQ(e.decided_by, "PeerAuthentication istio-system/default");
}

TEST(Explain, WhatItCannotResolveIsAClearError) {
  const MeshSource src = demo();
  const auto error = [&](ExplainRequest req) {
    auto e = explainRequest(src, req);
    return e ? std::string("ok") : e.error().message;
  };
  EXPECT_EQ(error({.from = "demo/nobody", .to = "my-app"}),
            "--from 'demo/nobody': no Pod demo/nobody in the configuration");
  EXPECT_EQ(error({.from = "client", .to = "my-app"}),
            "--from 'client': expected <namespace>/<pod> or a pod IP");
  EXPECT_EQ(error({.from = "demo/client", .to = "ghost"}),
            "--to 'ghost': no Service ghost.demo.svc.cluster.local in the configuration");
  EXPECT_EQ(error({.from = "demo/client", .to = "my-app:81"}),
            "--to: Service demo/my-app has no port 81");
  EXPECT_EQ(error({.from = "demo/client", .to = "my-app:http"}),
            "--to 'my-app:http': invalid port 'http'");
  EXPECT_EQ(error({.from = "demo/client", .to = "10.10.1.11"}),
            "--to '10.10.1.11': a pod address needs a port (IP:PORT)");
}

}  // namespace
}  // namespace ambit::cli
