// ambitctl analyze's checks, in-process: for every check one configuration that triggers it and
// one that does not, over the waypoint tests' mesh (tests/data/mesh.yaml).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/analyze/analyzer.h"
#include "tests/support/test_data.h"

namespace ambit::cli {
namespace {

using ::testing::HasSubstr;

MeshSource mesh(const std::string& extra) {
  std::vector<config::SourceDocument> docs{{"mesh.yaml", test::meshYaml()}};
  if (!extra.empty()) docs.push_back({"extra.yaml", extra});
  return MeshSource::fromDocuments(std::move(docs));
}

// "<code> <Kind ns/name> <origin>" of every finding.
std::vector<std::string> codes(const std::string& extra, const AnalyzeOptions& options = {}) {
  std::vector<std::string> out;
  const MeshSource src = mesh(extra);
  for (const auto& f : analyze(src, options))
    out.push_back(f.code + " " + f.objectText() + " " + f.origin.toString());
  return out;
}

const std::string kWaypoint = R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: default}
spec: {gatewayClassName: istio-waypoint}
status: {addresses: [{type: IPAddress, value: 10.1.9.9}]}
)";

TEST(Analyze, TheTestMeshIsClean) { EXPECT_THAT(codes(""), ::testing::IsEmpty()); }

TEST(Analyze, TranslationErrorsAreSchemaValidationErrorsWithFileAndLine) {
  const auto found = codes(R"(apiVersion: v1
kind: Service
metadata: {name: broken}
spec:
  ports: 80
)");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], "IST0106 Service default/broken extra.yaml:5");
}

TEST(Analyze, UndefinedSubsetIsAMissingReference) {
  std::string vs = test::seedVirtualService();
  vs.replace(vs.find("subset: v2"), 10, "subset: v3");
  const auto found = codes(vs);
  ASSERT_EQ(found.size(), 1u) << ::testing::PrintToString(found);
  EXPECT_THAT(found[0], HasSubstr("IST0101 VirtualService default/my-app extra.yaml:"));
  EXPECT_THAT(codes(test::seedVirtualService()), ::testing::IsEmpty());
}

TEST(Analyze, VirtualServiceHostWithoutService) {
  const std::string vs = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ghost, namespace: default}
spec:
  hosts: [ghost]
  http: [{route: [{destination: {host: my-app}}]}]
)";
  EXPECT_THAT(codes(vs),
              ::testing::ElementsAre("IST0101 VirtualService default/ghost extra.yaml:5"));
  std::string ok = vs;
  ok.replace(ok.find("hosts: [ghost]"), 14, "hosts: [my-app]");
  EXPECT_THAT(codes(ok), ::testing::IsEmpty());
}

TEST(Analyze, RouteDestinationWithoutService) {
  const std::string vs = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - route:
    - {destination: {host: my-app}, weight: 50}
    - {destination: {host: nowhere}, weight: 50}
)";
  EXPECT_THAT(codes(vs),
              ::testing::ElementsAre("IST0101 VirtualService default/my-app extra.yaml:9"));
}

TEST(Analyze, SubsetSelectingNoPod) {
  const std::string dr = R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-app-v1, namespace: default}
spec:
  host: my-app-v1
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v4, labels: {version: v4}}
)";
  EXPECT_THAT(codes(dr),
              ::testing::ElementsAre("IST0173 DestinationRule default/my-app-v1 extra.yaml:8"));
  std::string ok = dr.substr(0, dr.find("  - {name: v4"));
  EXPECT_THAT(codes(ok), ::testing::IsEmpty());
  std::string ghost = ok;
  ghost.replace(ghost.find("host: my-app-v1"), 15, "host: ghost");
  EXPECT_THAT(codes(ghost),
              ::testing::ElementsAre("IST0101 DestinationRule default/my-app-v1 extra.yaml:5"));
}

TEST(Analyze, WaypointNobodyUses) {
  EXPECT_THAT(codes(kWaypoint),
              ::testing::ElementsAre("AMB1001 Gateway default/waypoint extra.yaml:2"));
  const std::string bound = kWaypoint + R"(---
apiVersion: v1
kind: Service
metadata: {name: bound, namespace: default, labels: {istio.io/use-waypoint: waypoint}}
spec: {selector: {app: my-app}, clusterIP: 10.96.0.30, ports: [{port: 80}]}
)";
  EXPECT_THAT(codes(bound), ::testing::IsEmpty());
}

TEST(Analyze, UseWaypointLabelNamingNoWaypoint) {
  const std::string svc = R"(apiVersion: v1
kind: Service
metadata: {name: bound, namespace: default, labels: {istio.io/use-waypoint: nowhere}}
spec: {selector: {app: my-app}, clusterIP: 10.96.0.30, ports: [{port: 80}]}
)";
  EXPECT_THAT(codes(svc), ::testing::ElementsAre("IST0101 Service default/bound extra.yaml:3"));
}

TEST(Analyze, PolicySelectingNothing) {
  const std::string ap = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: default}
spec:
  selector: {matchLabels: {app: my-ap}}
  action: DENY
  rules: [{}]
)";
  EXPECT_THAT(codes(ap),
              ::testing::ElementsAre("IST0127 AuthorizationPolicy default/typo extra.yaml:5"));
  std::string ok = ap;
  ok.replace(ok.find("app: my-ap}"), 11, "app: my-app}");
  EXPECT_THAT(codes(ok), ::testing::IsEmpty());
}

TEST(Analyze, ServiceTargetedPolicyNeedsTheServiceAndAWaypoint) {
  const std::string ap = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
)";
  EXPECT_THAT(codes(ap),
              ::testing::ElementsAre("AMB1003 AuthorizationPolicy default/l7 extra.yaml:5"));
  std::string ghost = ap;
  ghost.replace(ghost.find("name: my-app}"), 13, "name: ghost}");
  EXPECT_THAT(codes(ghost),
              ::testing::ElementsAre("IST0101 AuthorizationPolicy default/l7 extra.yaml:5"));
  // Bound to a waypoint (the namespace's label): the policy is enforced, nothing to report.
  std::string base = test::meshYaml();
  base.replace(base.find("labels: {istio.io/dataplane-mode: ambient}"), 42,
               "labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}");
  const MeshSource src =
      MeshSource::fromDocuments({{"mesh.yaml", base}, {"extra.yaml", ap + "---\n" + kWaypoint}});
  EXPECT_THAT(analyze(src), ::testing::IsEmpty());
}

TEST(Analyze, SelectorOnlyRequestAuthenticationIsNotEnforced) {
  const std::string ra = R"(apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  selector: {matchLabels: {app: my-app}}
  jwtRules: [{issuer: x, jwksUri: "https://x/jwks"}]
)";
  EXPECT_THAT(codes(ra),
              ::testing::ElementsAre("AMB1003 RequestAuthentication default/jwt extra.yaml:1"));
  std::string targeted = ra;
  targeted.replace(targeted.find("selector: {matchLabels: {app: my-app}}"), 38,
                   "targetRefs: [{kind: Service, name: my-app}]");
  // Targeted, but my-app has no waypoint: still never enforced, and said so.
  EXPECT_THAT(codes(targeted),
              ::testing::ElementsAre("AMB1003 RequestAuthentication default/jwt extra.yaml:5"));
}

const std::string kLegacyClient = R"(apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: old-client, namespace: legacy}
spec: {nodeName: node1}
status: {podIP: 10.1.7.7}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
)";

TEST(Analyze, StrictMtlsWithAPlaintextClient) {
  const auto found = codes(kLegacyClient);
  ASSERT_EQ(found.size(), 3u) << ::testing::PrintToString(found);  // my-app-v1, -v1b, -v2
  for (const auto& f : found)
    EXPECT_EQ(f, "AMB1002 PeerAuthentication istio-system/default extra.yaml:11");
  const MeshSource src = mesh(kLegacyClient);
  EXPECT_THAT(analyze(src).front().message, HasSubstr("legacy/old-client (10.1.7.7)"));
  // Enrolled, the client speaks mTLS: nothing to report.
  std::string enrolled = kLegacyClient;
  enrolled.replace(enrolled.find("metadata: {name: legacy}"), 24,
                   "metadata: {name: legacy, labels: {istio.io/dataplane-mode: ambient}}");
  EXPECT_THAT(codes(enrolled), ::testing::IsEmpty());
  // A policy that denies the client anyway: STRICT is not what stops it.
  const std::string denied = kLegacyClient + R"(---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-legacy, namespace: default}
spec:
  action: DENY
  rules: [{from: [{source: {ipBlocks: [10.1.7.0/24]}}]}]
)";
  EXPECT_THAT(codes(denied), ::testing::IsEmpty());
}

TEST(Analyze, RulesShadowedByEarlierRules) {
  const std::string vs = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: my-app, subset: v1}}]
  - name: api-v2
    match: [{uri: {prefix: /api/v2}, headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: mixed
    match: [{uri: {exact: /api/x}}, {uri: {prefix: /web}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - name: all
    route: [{destination: {host: my-app, subset: v1}}]
  - name: never
    match: [{uri: {prefix: /other}}]
    route: [{destination: {host: my-app, subset: v2}}]
)";
  EXPECT_THAT(codes(vs),
              ::testing::ElementsAre("IST0130 VirtualService default/my-app extra.yaml:10",
                                     "IST0130 VirtualService default/my-app extra.yaml:18",
                                     "IST0131 VirtualService default/my-app extra.yaml:14"));
  const std::string ordered = R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - match: [{uri: {prefix: /api}, method: {exact: POST}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: my-app, subset: v1}}]
  - route: [{destination: {host: my-app, subset: v1}}]
)";
  EXPECT_THAT(codes(ordered), ::testing::IsEmpty());
}

TEST(Analyze, NamespaceFilterKeepsThatNamespaceOnly) {
  const std::string two = kWaypoint + R"(---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: other}
spec: {gatewayClassName: istio-waypoint}
)";
  EXPECT_EQ(codes(two).size(), 2u);
  EXPECT_THAT(codes(two, {.namespace_filter = "other"}),
              ::testing::ElementsAre("AMB1001 Gateway other/waypoint extra.yaml:12"));
}

TEST(Analyze, RendersIstioctlTextAndJson) {
  const MeshSource src = mesh(kWaypoint);
  const Findings found = analyze(src);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(renderText(found),
            "Warning [AMB1001] (Gateway default/waypoint extra.yaml:2) Waypoint default/waypoint "
            "is not used: no Namespace, Service or Pod is bound to it (waypoint-for: service)\n"
            "  Fix: label the namespace or a Service with istio.io/use-waypoint=waypoint "
            "(kubectl label ...), or delete the Gateway\n");
  const auto j = nlohmann::json::parse(renderJson(found));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["code"], "AMB1001");
  EXPECT_EQ(j[0]["level"], "Warning");
  EXPECT_EQ(j[0]["kind"], "Gateway");
  EXPECT_EQ(j[0]["line"], 2);
  EXPECT_FALSE(j[0].contains("documentation"));
  const MeshSource bad =
      mesh("apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: 1}\n");
  const auto jb = nlohmann::json::parse(renderJson(analyze(bad)));
  EXPECT_EQ(jb[0]["documentation"],
            "https://istio.io/latest/docs/reference/config/analysis/ist0106/");
  EXPECT_THAT(renderYaml(found), HasSubstr("code: \"AMB1001\""));
}

}  // namespace
}  // namespace ambit::cli
