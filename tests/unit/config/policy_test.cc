// AuthorizationPolicy, PeerAuthentication and RequestAuthentication translation.
#include <gtest/gtest.h>

#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using testing::loadOk;
using AP = v1::AuthorizationPolicy;

TEST(AuthorizationPolicy, L4RulesTranslateWithIstioStringMatches) {
  const auto s = loadOk(R"(apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow-frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/shop/sa/frontend, "*/sa/admin", "spiffe*", "*"]
        notNamespaces: [blocked]
        ipBlocks: [10.0.0.0/8, 192.168.1.1]
        notIpBlocks: ["fd00::/8"]
    to:
    - operation: {ports: ["9080", 9443], notPorts: ["22"]}
    when:
    - {key: source.namespace, values: [shop]}
)");
  ASSERT_EQ(s.authorization_policies_size(), 1);
  const auto& p = s.authorization_policies(0);
  EXPECT_EQ(p.scope(), AP::WORKLOAD_SELECTOR);
  EXPECT_EQ(p.selector().at("app"), "reviews");
  EXPECT_EQ(p.action(), AP::ALLOW);
  EXPECT_FALSE(p.needs_l7());
  const auto& src = p.rules(0).from(0);
  EXPECT_EQ(src.principals(0).exact(), "cluster.local/ns/shop/sa/frontend");
  EXPECT_EQ(src.principals(1).suffix(), "/sa/admin");
  EXPECT_EQ(src.principals(2).prefix(), "spiffe");
  EXPECT_TRUE(src.principals(3).presence());
  EXPECT_EQ(src.not_namespaces(0).exact(), "blocked");
  EXPECT_EQ(src.ip_blocks(1), "192.168.1.1");
  EXPECT_EQ(src.not_ip_blocks(0), "fd00::/8");
  const auto& op = p.rules(0).to(0);
  ASSERT_EQ(op.ports_size(), 2);
  EXPECT_EQ(op.ports(0), 9080u);
  EXPECT_EQ(op.ports(1), 9443u);
  EXPECT_EQ(op.not_ports(0), 22u);
  EXPECT_EQ(p.rules(0).when(0).key(), "source.namespace");
}

TEST(AuthorizationPolicy, L7FieldsSetNeedsL7) {
  const char* cases[] = {
      "to: [{operation: {methods: [GET]}}]",
      "to: [{operation: {paths: [/api/*]}}]",
      "to: [{operation: {notHosts: [a.com]}}]",
      "from: [{source: {requestPrincipals: [\"*\"]}}]",
      "when: [{key: \"request.headers[x-user]\", values: [alice]}]",
      "when: [{key: \"request.auth.claims[groups]\", values: [admin]}]",
  };
  for (const char* rule : cases) {
    const auto s = loadOk(std::string(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: DENY
  rules:
  - )") + rule + "\n");
    ASSERT_EQ(s.authorization_policies_size(), 1) << rule;
    EXPECT_TRUE(s.authorization_policies(0).needs_l7()) << rule;
    EXPECT_EQ(s.authorization_policies(0).target_refs(0), "Service/reviews");
    EXPECT_EQ(s.authorization_policies(0).action(), AP::DENY);
  }
}

TEST(AuthorizationPolicy, ScopeFollowsNamespaceAndSelector) {
  const auto s = loadOk(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh, namespace: istio-system}
spec: {action: AUDIT}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ns-wide, namespace: shop}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: root-selected, namespace: istio-system}
spec: {selector: {matchLabels: {app: x}}}
)");
  ASSERT_EQ(s.authorization_policies_size(), 3);
  EXPECT_EQ(s.authorization_policies(0).scope(), AP::GLOBAL);
  EXPECT_EQ(s.authorization_policies(0).action(), AP::AUDIT);
  EXPECT_EQ(s.authorization_policies(1).scope(), AP::NAMESPACE);
  EXPECT_EQ(s.authorization_policies(1).action(), AP::ALLOW) << "ALLOW is the default";
  EXPECT_EQ(s.authorization_policies(1).rules_size(), 0) << "allow-nothing policy kept as is";
  EXPECT_EQ(s.authorization_policies(2).scope(), AP::WORKLOAD_SELECTOR);
}

TEST(PeerAuthentication, ModesAndPortLevel) {
  const auto s = loadOk(R"(apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls:
    "8080": {mode: DISABLE}
)");
  ASSERT_EQ(s.peer_authentications_size(), 2);
  EXPECT_TRUE(s.peer_authentications(0).mesh_wide());
  EXPECT_EQ(s.peer_authentications(0).mode(), v1::PeerAuthentication::STRICT);
  const auto& p = s.peer_authentications(1);
  EXPECT_FALSE(p.mesh_wide());
  EXPECT_EQ(p.mode(), v1::PeerAuthentication::PERMISSIVE);
  EXPECT_EQ(p.selector().at("app"), "legacy");
  EXPECT_EQ(p.port_level_mtls().at(8080), v1::PeerAuthentication::DISABLE);
}

TEST(RequestAuthentication, JwtRules) {
  const auto s = loadOk(R"(apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  jwtRules:
  - issuer: https://issuer.example.com
    audiences: [api]
    jwksUri: https://issuer.example.com/jwks
    fromHeaders: [{name: x-jwt, prefix: "Bearer "}]
    fromParams: [token]
    forwardOriginalToken: true
    outputPayloadToHeader: x-payload
  - issuer: local
    jwks: '{"keys": []}'
)");
  ASSERT_EQ(s.request_authentications_size(), 1);
  const auto& r = s.request_authentications(0);
  EXPECT_EQ(r.selector().at("app"), "api");
  ASSERT_EQ(r.jwt_rules_size(), 2);
  EXPECT_EQ(r.jwt_rules(0).issuer(), "https://issuer.example.com");
  EXPECT_EQ(r.jwt_rules(0).audiences(0), "api");
  EXPECT_EQ(r.jwt_rules(0).jwks_uri(), "https://issuer.example.com/jwks");
  EXPECT_EQ(r.jwt_rules(0).from_headers(0), "x-jwt");
  EXPECT_EQ(r.jwt_rules(0).from_header_prefixes(0), "Bearer ");
  EXPECT_EQ(r.jwt_rules(0).from_params(0), "token");
  EXPECT_TRUE(r.jwt_rules(0).forward_original_token());
  EXPECT_EQ(r.jwt_rules(0).output_payload_to_header(), "x-payload");
  EXPECT_EQ(r.jwt_rules(1).jwks(), "{\"keys\": []}");
}

}  // namespace
}  // namespace ambit::config
