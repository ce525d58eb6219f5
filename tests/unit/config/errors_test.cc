// Bad inputs: every problem names the file, the 1-based line, the object and the reason; all
// problems are collected; a bad file contributes nothing.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using testing::allErrors;
using testing::load;

struct BadCase {
  const char* name;
  const char* yaml;
  int line;
  const char* object;  // "" when the problem precedes identifying the object
  const char* reason;  // substring of the reason
};

const BadCase kBadCases[] = {
    {"UnparsableYaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n", 4, "", "invalid YAML"},
    {"DocumentNotAMap", "- a\n- b\n", 1, "", "document must be a map"},
    // yaml-cpp alone never returns on it (memory grows until it runs out): tests/fuzz finding.
    {"StrayCommaStartsADocument",
     "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n, x\n", 5, "",
     "a document starts with ',' outside a flow collection"},
    {"UnknownKind", "apiVersion: v1\nkind: Deployment\nmetadata: {name: a}\n", 2,
     "Deployment default/a", "unknown kind 'Deployment'"},
    {"MissingKind", "apiVersion: v1\nmetadata: {name: a}\n", 1, "", "missing required field kind"},
    {"MissingApiVersion", "kind: Pod\nmetadata: {name: a}\n", 1, "Pod",
     "missing required field apiVersion"},
    {"MissingName", "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: x\n", 4, "Pod",
     "missing required field metadata.name"},
    {"InvalidName", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: My_App\n", 4,
     "Pod default/My_App", "invalid name 'My_App'"},
    {"UnsupportedApiVersion",
     "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: vs}\n", 1,
     "VirtualService default/vs", "unsupported apiVersion 'networking.istio.io/v2'"},
    {"UnknownSpecField", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  portz: []\n",
     5, "Service default/s", "unknown field spec.portz"},
    {"UnknownNestedField",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n"
     "  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a, subsett: v1}\n",
     8, "VirtualService default/vs", "unknown field spec.http[0].route[0].destination.subsett"},
    {"UnknownTopLevelField", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspecs: {}\n", 4,
     "Pod default/p", "unknown field specs"},
    {"WeightNotANumber", R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route:
    - destination: {host: my-app}
      weight: eighty
)",
     9, "VirtualService default/vs",
     "spec.http[0].route[0].weight: must be an integer, got 'eighty'"},
    {"PortsNotAList", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: 80\n", 5,
     "Service default/s", "spec.ports: must be a list, got a scalar"},
    {"WeightsDoNotSumTo100", R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: my-app}
spec:
  hosts: [my-app]
  http:
  - route:
    - destination: {host: my-app}
      weight: 70
    - destination: {host: other}
      weight: 20
)",
     8, "VirtualService default/my-app", "route weights sum to 90, must be 100"},
    {"NegativeWeight", R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route:
    - destination: {host: my-app}
      weight: -5
)",
     9, "VirtualService default/vs", "weight: -5 is out of range [0, 100]"},
    {"OverflowWeight", R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route:
    - destination: {host: my-app}
      weight: 99999999999999999999
)",
     9, "VirtualService default/vs", "weight: must be an integer"},
    {"UndefinedSubset", R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route:
    - destination:
        host: my-app
        subset: v3
)",
     10, "VirtualService default/vs",
     "subset 'v3' of host my-app.default.svc.cluster.local is not defined by any DestinationRule"},
    {"DuplicateName",
     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\napiVersion: v1\n"
     "kind: Pod\nmetadata:\n  name: p\n",
     8, "Pod default/p", "duplicate Pod default/p (first defined at bad.yaml:1)"},
    {"InvalidLabelValue",
     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: \"bad value!\"\n", 6,
     "Pod default/p", "invalid label value 'bad value!'"},
    {"InvalidLabelKey", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    -x: y\n",
     6, "Pod default/p", "invalid label key '-x'"},
    {"InvalidEnrollmentLabel", R"(apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    istio.io/dataplane-mode: sidecar
)",
     6, "Namespace demo", "label istio.io/dataplane-mode: unknown value 'sidecar'"},
    {"InvalidCidrInIpBlocks", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  rules:
  - from:
    - source:
        ipBlocks: [10.0.0.0/8, 10.0.0.0/33]
)",
     8, "AuthorizationPolicy default/ap", "invalid CIDR '10.0.0.0/33'"},
    {"InvalidServicePort",
     "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 70000\n", 6,
     "Service default/s", "spec.ports[0].port: 70000 is out of range [1, 65535]"},
    {"InvalidPolicyPort", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  rules:
  - to:
    - operation:
        ports: ["http"]
)",
     8, "AuthorizationPolicy default/ap",
     "spec.rules[0].to[0].operation.ports[0]: must be an integer"},
    {"InvalidPodIp",
     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus:\n  podIP: 10.0.0.300\n", 5,
     "Pod default/p", "invalid pod IP '10.0.0.300'"},
    {"PodIpClaimedTwice",
     "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nstatus: {podIP: 10.0.0.1}\n"
     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus:\n  podIP: 10.0.0.1\n",
     10, "Pod default/b", "pod IP 10.0.0.1 is already used by Pod default/a"},
    {"InvalidClusterIp",
     "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  clusterIP: 10.96.0.1000\n", 5,
     "Service default/s", "invalid cluster IP '10.96.0.1000'"},
    {"BadTimeout", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route: [{destination: {host: my-app}}]
    timeout: 2 seconds
)",
     8, "VirtualService default/vs", "spec.http[0].timeout: invalid duration '2 seconds'"},
    {"BadPerTryTimeout", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - route: [{destination: {host: my-app}}]
    retries:
      attempts: 3
      perTryTimeout: "100"
)",
     10, "VirtualService default/vs", "spec.http[0].retries.perTryTimeout: invalid duration '100'"},
    {"InvalidRegex", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - match:
    - uri:
        regex: "(unclosed"
    route: [{destination: {host: my-app}}]
)",
     9, "VirtualService default/vs", "spec.http[0].match[0].uri.regex: invalid regex '(unclosed'"},
    // ECMAScript accepts a backreference; RE2 (Istio's dialect) does not.
    {"BackreferenceIsNotRe2", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - match:
    - uri:
        regex: "/(a+)/\\1"
    route: [{destination: {host: my-app}}]
)",
     9, "VirtualService default/vs",
     "spec.http[0].match[0].uri.regex: invalid regex '/(a+)/\\1' (RE2 syntax)"},
    {"UnknownPeerAuthenticationMode", R"(apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: pa}
spec:
  mtls:
    mode: STRICTEST
)",
     6, "PeerAuthentication default/pa", "spec.mtls.mode: unknown mTLS mode 'STRICTEST'"},
    {"PortLevelMtlsWithoutSelector", R"(apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: pa}
spec:
  portLevelMtls:
    "8080": {mode: DISABLE}
)",
     6, "PeerAuthentication default/pa", "spec.portLevelMtls requires spec.selector"},
    {"UnknownAuthorizationAction", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  action: PERMIT
)",
     5, "AuthorizationPolicy default/ap", "spec.action: unknown action 'PERMIT'"},
    {"UnknownConditionKey", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  rules:
  - when:
    - key: source.colour
      values: [blue]
)",
     7, "AuthorizationPolicy default/ap", "unknown condition key 'source.colour'"},
    {"WaypointGatewayWithoutName", R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  namespace: demo
spec:
  gatewayClassName: istio-waypoint
)",
     4, "Gateway", "missing required field metadata.name"},
    {"BadBypassPortAnnotation", R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    ambit.dev/bypass-inbound-ports: "8080,0"
)",
     6, "Pod default/p", "invalid port number '0'"},
    {"TcpRoutesUnsupported", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  tcp:
  - route: [{destination: {host: my-app}}]
)",
     7, "VirtualService default/vs", "spec.tcp: tcp routes are not supported yet"},
    {"HttpWithoutRouteOrRedirect", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [my-app]
  http:
  - timeout: 1s
)",
     7, "VirtualService default/vs", "spec.http[0]: needs route or redirect"},
    {"HttpRouteBackendWithoutPort", R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - backendRefs:
    - name: my-app
)",
     7, "HTTPRoute default/r", "missing required field spec.rules[0].backendRefs[0].port"},
    {"HttpRouteUnknownPathType", R"(apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - matches:
    - path: {type: Glob, value: /x}
)",
     7, "HTTPRoute default/r", "unknown path match type 'Glob'"},
    {"DestinationRuleWithoutHost", R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  subsets: [{name: v1}]
)",
     5, "DestinationRule default/dr", "missing required field spec.host"},
    {"OutlierEjectionPercentOver100", R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: a
  trafficPolicy:
    outlierDetection: {maxEjectionPercent: 150}
)",
     7, "DestinationRule default/dr", "spec.trafficPolicy.outlierDetection.maxEjectionPercent"},
    {"JwtRuleWithoutIssuer", R"(apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra}
spec:
  jwtRules:
  - jwksUri: https://x/jwks
)",
     6, "RequestAuthentication default/ra", "missing required field spec.jwtRules[0].issuer"},
};

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, ErrorNamesFileLineObjectAndReason) {
  const BadCase& c = GetParam();
  const LoadResult r = load(c.yaml, "bad.yaml");
  ASSERT_FALSE(r.ok()) << c.name << " was accepted";
  const ConfigError* match = nullptr;
  for (const auto& e : r.errors) {
    if (e.reason.find(c.reason) != std::string::npos) match = &e;
  }
  ASSERT_NE(match, nullptr) << "no error with reason '" << c.reason << "' in:\n" << allErrors(r);
  EXPECT_EQ(match->file, "bad.yaml");
  EXPECT_EQ(match->line, c.line) << match->toString();
  EXPECT_EQ(match->object, c.object) << match->toString();
  const std::string text = match->toString();
  EXPECT_EQ(text.rfind("bad.yaml:" + std::to_string(c.line) + ": ", 0), 0u) << text;
  EXPECT_NE(text.find(c.reason), std::string::npos) << text;
  EXPECT_EQ(r.snapshot.workloads_size() + r.snapshot.services_size() +
                r.snapshot.route_tables_size() + r.snapshot.authorization_policies_size() +
                r.snapshot.namespaces_size(),
            0)
      << "a rejected file must contribute nothing";
}

INSTANTIATE_TEST_SUITE_P(Config, BadInput, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BadInputs, AtLeast25DistinctCases) { EXPECT_GE(std::size(kBadCases), 25u); }

TEST(BadInputs, EveryProblemIsCollectedNotJustTheFirst) {
  const LoadResult r =
      translate({{"a.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
  - port: 0
  - port: 80
    protocol: TCPX
  bogus: 1
)"},
                 {"b.yaml", "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n"}});
  ASSERT_EQ(r.errors.size(), 4u) << allErrors(r);
  EXPECT_EQ(r.errors[0].toString(),
            "a.yaml:6: Service default/s: spec.ports[0].port: 0 is out of range [1, 65535]");
  EXPECT_EQ(r.errors[1].line, 8);
  EXPECT_EQ(r.errors[2].toString(), "a.yaml:9: Service default/s: unknown field spec.bogus");
  EXPECT_EQ(r.errors[3].toString(), "b.yaml:2: Widget default/w: unknown kind 'Widget'");
}

TEST(BadInputs, DuplicateAcrossFilesNamesBothPlaces) {
  const char* pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n";
  const LoadResult r = translate({{"one.yaml", pod}, {"two.yaml", pod}});
  ASSERT_EQ(r.errors.size(), 1u) << allErrors(r);
  EXPECT_EQ(r.errors[0].toString(),
            "two.yaml:3: Pod ns/p: duplicate Pod ns/p (first defined at one.yaml:1)");
  EXPECT_EQ(r.snapshot.workloads_size(), 1) << "one.yaml is still good";
}

TEST(BadInputs, SameNameDifferentKindOrNamespaceIsFine) {
  const LoadResult r = load(R"(apiVersion: v1
kind: Pod
metadata: {name: x}
---
apiVersion: v1
kind: Service
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: x, namespace: other}
)");
  EXPECT_TRUE(r.ok()) << allErrors(r);
}

TEST(BadInputs, NonWaypointGatewayIsIgnoredNotAnError) {
  const LoadResult r = load(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress}
spec:
  gatewayClassName: some-vendor
  listeners: [{name: http, port: 80, protocol: HTTP}]
  vendorSpecific: true
)");
  EXPECT_TRUE(r.ok()) << allErrors(r);
  EXPECT_EQ(r.snapshot.waypoints_size(), 0);
}

TEST(BadInputs, MissingDirectoryIsReported) {
  const LoadResult r = loadConfigDir("/nonexistent/ambit-config");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].toString(), "/nonexistent/ambit-config: not a readable directory");
}

}  // namespace
}  // namespace ambit::config

namespace ambit::config {
namespace {

// Every truncation of every sample file and bad case must yield errors or a snapshot, never an
// exception or a crash: config comes from users, and a half-written file is a normal event.
TEST(Robustness, EveryPrefixOfRealInputIsHandled) {
  std::vector<std::string> inputs;
  for (const auto& c : kBadCases) inputs.emplace_back(c.yaml);
  ConfigErrors ignored;
  for (const auto& f : readConfigDir(AMBIT_SOURCE_DIR "/deploy/samples", ignored)) {
    inputs.push_back(f.content);
  }
  size_t runs = 0;
  for (const auto& in : inputs) {
    for (size_t n = 0; n <= in.size(); n += 3) {
      EXPECT_NO_THROW({
        const auto r = translate({{"p.yaml", in.substr(0, n)}});
        for (const auto& e : r.errors) EXPECT_EQ(e.file, "p.yaml");
      }) << in.substr(0, n);
      ++runs;
    }
  }
  EXPECT_GT(runs, 1000u);
}

// Replaces each "key: value" with values of the wrong shape, one line at a time.
TEST(Robustness, WrongShapedValuesAreReportedNotThrown) {
  ConfigErrors ignored;
  size_t rejected = 0;
  for (const auto& f : readConfigDir(AMBIT_SOURCE_DIR "/deploy/samples", ignored)) {
    std::vector<std::string> lines;
    std::stringstream ss(f.content);
    for (std::string line; std::getline(ss, line);) lines.push_back(line);
    for (size_t i = 0; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(": ");
      if (colon == std::string::npos) continue;
      for (const char* value : {"[1, [2]]", "{a: {b: c}}", "-1", "~", "\"x\""}) {
        std::string text;
        for (size_t j = 0; j < lines.size(); ++j) {
          text += (j == i ? lines[j].substr(0, colon + 2) + value : lines[j]) + "\n";
        }
        EXPECT_NO_THROW({
          const auto r = translate({{"m.yaml", text}});
          if (!r.ok()) ++rejected;
          for (const auto& e : r.errors) {
            EXPECT_EQ(e.reason.find("malformed"), std::string::npos) << "imprecise: " << text;
          }
        }) << text;
      }
    }
  }
  EXPECT_GT(rejected, 100u);
}

}  // namespace
}  // namespace ambit::config
