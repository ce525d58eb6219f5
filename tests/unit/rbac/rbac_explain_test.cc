// CompiledPolicySet::explain(): the same decision as evaluate() on every input, with each rule
// of each applicable policy traced (which clause failed), and mtlsDecision() naming the
// PeerAuthentication that set the mode.
#include "tests/unit/rbac/rbac_test_util.h"

namespace ambit::rbac::testing {
namespace {

using Clause = RuleTrace::Clause;
using Outcome = RuleTrace::Outcome;

std::vector<v1::AuthorizationPolicy> policies() {
  return {
      authz(R"(name: "allow-client" namespace: "foo"
               rules { from { principals { exact: "cluster.local/ns/other/sa/x" } } }
               rules { from { namespaces { exact: "client" } } to { ports: 9090 } }
               rules { from { namespaces { exact: "client" } }
                       when { key: "request.headers[x-user]" values: "bob" } }
               rules { to { paths { exact: "/api/v1/items" } } })"),
      authz(R"(name: "deny-admin" namespace: "foo" action: DENY
               rules { to { paths { prefix: "/admin" } } })"),
      authz(R"(name: "audit-all" namespace: "foo" action: AUDIT rules {})"),
  };
}

TEST(RbacExplain, TracesEveryRuleWithTheClauseThatFailed) {
  const auto set = compileOk(policies());
  Request req;
  const Explanation e = set->explain({.ns = "foo"}, req.attrs, Mode::kL7);
  ASSERT_EQ(e.policies.size(), 3u);
  const PolicyTrace& allow = e.policies[0];
  EXPECT_EQ(allow.policy, "foo/allow-client");
  EXPECT_TRUE(allow.matched);
  ASSERT_EQ(allow.rules.size(), 4u);
  EXPECT_EQ(allow.rules[0].outcome, Outcome::kNoMatch);
  EXPECT_EQ(allow.rules[0].failed, Clause::kFrom);
  EXPECT_EQ(allow.rules[1].failed, Clause::kTo);
  EXPECT_EQ(allow.rules[2].failed, Clause::kWhen);
  EXPECT_EQ(allow.rules[2].when_index, 0u);
  EXPECT_EQ(allow.rules[3].outcome, Outcome::kMatched);
  // Policies come in evaluation order: sorted by name within a scope.
  EXPECT_EQ(e.policies[1].policy, "foo/audit-all");
  EXPECT_TRUE(e.policies[1].matched);
  EXPECT_EQ(e.policies[2].policy, "foo/deny-admin");
  EXPECT_FALSE(e.policies[2].matched);
  EXPECT_EQ(e.policies[2].action, v1::AuthorizationPolicy::DENY);
  EXPECT_TRUE(e.decision.allowed);
  EXPECT_EQ(e.decision.policy, "foo/allow-client");
  EXPECT_EQ(e.decision.audit_policy, "foo/audit-all");
}

TEST(RbacExplain, L7OnlyAllowRulesAreReportedAsSkippedAtL4) {
  const auto set = compileOk(policies());
  Request req;
  const Explanation e = set->explain({.ns = "foo"}, req.attrs, Mode::kL4);
  EXPECT_EQ(e.policies[0].rules[2].outcome, Outcome::kSkippedAtL4);
  EXPECT_EQ(e.policies[0].rules[3].outcome, Outcome::kSkippedAtL4);
  EXPECT_FALSE(e.policies[0].matched);
  // A DENY rule's L7 parts are ignored at L4: it matches on its (empty) L4 parts.
  EXPECT_EQ(e.policies[2].rules[0].outcome, Outcome::kMatched);
  EXPECT_FALSE(e.decision.allowed);
  EXPECT_EQ(e.decision.reason, Decision::Reason::kDenyMatched);
}

TEST(RbacExplain, DecisionEqualsEvaluateForEveryVariation) {
  const auto set = compileOk(policies());
  const char* paths[] = {"/api/v1/items", "/admin/x", "/other"};
  const char* principals[] = {"spiffe://cluster.local/ns/client/sa/app",
                              "spiffe://cluster.local/ns/other/sa/x", ""};
  const uint16_t ports[] = {8080, 9090};
  int checked = 0;
  for (const char* path : paths) {
    for (const char* principal : principals) {
      for (const uint16_t port : ports) {
        for (const Mode mode : {Mode::kL4, Mode::kL7}) {
          for (const std::string_view ns : {"foo", "bar"}) {
            Request req;
            req.attrs.path = path;
            req.attrs.source_principal = principal;
            req.attrs.destination_port = port;
            const Decision want = set->evaluate({.ns = ns}, req.attrs, mode);
            const Decision got = set->explain({.ns = ns}, req.attrs, mode).decision;
            EXPECT_EQ(got.allowed, want.allowed) << path << " " << principal << " " << port;
            EXPECT_EQ(got.reason, want.reason) << path << " " << principal << " " << port;
            EXPECT_EQ(got.policy, want.policy) << path << " " << principal << " " << port;
            EXPECT_EQ(got.audit_policy, want.audit_policy);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 72);
}

TEST(RbacExplain, NoApplicablePolicyHasAnEmptyTrace) {
  const auto set = compileOk(policies());
  Request req;
  const Explanation e = set->explain({.ns = "bar"}, req.attrs, Mode::kL7);
  EXPECT_TRUE(e.policies.empty());
  EXPECT_EQ(e.decision.reason, Decision::Reason::kNoPolicy);
}

TEST(RbacExplain, MtlsDecisionNamesThePolicyAndLevel) {
  const auto set = compileOk(
      {},
      {parseProto<v1::PeerAuthentication>(R"(name: "mesh" namespace: "istio-system" mode: STRICT)"),
       parseProto<v1::PeerAuthentication>(
           R"(name: "legacy" namespace: "foo" selector { key: "app" value: "old" }
                  mode: STRICT port_level_mtls { key: 8080 value: PERMISSIVE })")});
  Labels old;
  old["app"] = "old";
  MtlsDecision d = set->mtlsDecision({.ns = "foo", .labels = &old}, 8080);
  EXPECT_EQ(d.mode, v1::PeerAuthentication::PERMISSIVE);
  EXPECT_EQ(d.policy, "foo/legacy");
  EXPECT_TRUE(d.port_level);
  d = set->mtlsDecision({.ns = "bar"}, 8080);
  EXPECT_EQ(d.mode, v1::PeerAuthentication::STRICT);
  EXPECT_EQ(d.policy, "istio-system/mesh");
  EXPECT_FALSE(d.port_level);
  EXPECT_EQ(set->effectiveMtls({.ns = "bar"}, 8080), d.mode);
  const auto none = compileOk({});
  EXPECT_EQ(none->mtlsDecision({.ns = "bar"}, 80).policy, "");
  EXPECT_EQ(none->mtlsDecision({.ns = "bar"}, 80).mode, v1::PeerAuthentication::PERMISSIVE);
}

}  // namespace
}  // namespace ambit::rbac::testing
