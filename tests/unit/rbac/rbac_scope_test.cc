// Which policies apply (scopes, selectors, targetRefs), the decision order, L4 handling of
// L7-only rules, AUDIT/CUSTOM reporting, and compile errors.
#include "tests/unit/rbac/rbac_test_util.h"

namespace ambit::rbac::testing {
namespace {

Labels labels(std::initializer_list<std::pair<const std::string, std::string>> kv) {
  Labels out;
  for (const auto& [k, v] : kv) out[k] = v;
  return out;
}

const std::string kFromClient = R"(rules { from { namespaces { exact: "client" } } })";
const std::string kFromOther = R"(rules { from { namespaces { exact: "other" } } })";

TEST(RbacScope, NoPoliciesAllows) {
  const auto set = compileOk({});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL4);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, Decision::Reason::kNoPolicy);
  EXPECT_EQ(d.reasonText(), "no authorization policy applies");
}

TEST(RbacScope, AllowNothingDenies) {
  const auto set = compileOk({authz(R"(name: "allow-nothing" namespace: "foo")")});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, Decision::Reason::kNoAllowMatched);
  EXPECT_TRUE(d.policy.empty());
}

TEST(RbacScope, AllowAllRuleAllows) {
  const auto set = compileOk({authz(R"(name: "allow-all" namespace: "foo" rules {})")});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL4);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, Decision::Reason::kAllowMatched);
  EXPECT_EQ(d.policy, "foo/allow-all");
}

TEST(RbacScope, DenyWithNoRulesMatchesNothing) {
  const auto set = compileOk({authz(R"(name: "d" namespace: "foo" action: DENY)")});
  Request req;
  EXPECT_TRUE(set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7).allowed);
}

TEST(RbacScope, DenyBeatsAllow) {
  const auto set = compileOk({authz(R"(name: "a" namespace: "foo" rules {})"),
                              authz(R"(name: "z" namespace: "foo" action: DENY )" + kFromClient)});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, Decision::Reason::kDenyMatched);
  EXPECT_EQ(d.policy, "foo/z");
  EXPECT_EQ(d.reasonText(), "denied by policy");
}

TEST(RbacScope, AnyAllowMatchSuffices) {
  const auto set = compileOk({authz(R"(name: "a" namespace: "foo" )" + kFromOther),
                              authz(R"(name: "b" namespace: "foo" )" + kFromClient)});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, "foo/b");
}

struct ScopeCase {
  const char* name;
  const char* policy;  // an allow-nothing-for-us policy: applies ⇒ request denied
  const char* target_ns;
  bool applies;
};

void PrintTo(const ScopeCase& c, std::ostream* os) { *os << c.name; }

const ScopeCase kScopes[] = {
    {"global_applies_everywhere", R"(namespace: "istio-system")", "foo", true},
    {"global_applies_in_root", R"(namespace: "istio-system")", "istio-system", true},
    {"namespace_applies_own", R"(namespace: "foo")", "foo", true},
    {"namespace_not_other", R"(namespace: "bar")", "foo", false},
    {"selector_match", R"(namespace: "foo" selector { key: "app" value: "web" })", "foo", true},
    {"selector_all_labels",
     R"(namespace: "foo" selector { key: "app" value: "web" } selector { key: "version" value: "v1" })",
     "foo", true},
    {"selector_value_mismatch", R"(namespace: "foo" selector { key: "app" value: "db" })", "foo",
     false},
    {"selector_missing_label", R"(namespace: "foo" selector { key: "tier" value: "x" })", "foo",
     false},
    {"selector_other_namespace", R"(namespace: "bar" selector { key: "app" value: "web" })", "foo",
     false},
    {"root_selector_any_namespace",
     R"(namespace: "istio-system" selector { key: "app" value: "web" })", "foo", true},
    {"root_selector_mismatch", R"(namespace: "istio-system" selector { key: "app" value: "db" })",
     "foo", false},
    {"target_ref_not_for_workloads", R"(namespace: "foo" target_refs: "Service/web")", "foo",
     false},
    // The scope field is informational: a GLOBAL label on a non-root policy does not widen it.
    {"scope_field_ignored", R"(namespace: "bar" scope: GLOBAL)", "foo", false},
};

class ScopeTest : public ::testing::TestWithParam<ScopeCase> {};

TEST_P(ScopeTest, Applies) {
  const ScopeCase& c = GetParam();
  const auto set = compileOk({authz(std::string("name: \"p\" ") + c.policy)});
  const Labels l = labels({{"app", "web"}, {"version", "v1"}});
  Request req;
  const Decision d = set->evaluate({.ns = c.target_ns, .labels = &l}, req.attrs, Mode::kL4);
  EXPECT_EQ(d.allowed, !c.applies);
}

INSTANTIATE_TEST_SUITE_P(Rbac, ScopeTest, ::testing::ValuesIn(kScopes),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RbacScope, WaypointTargetsUseTargetRefs) {
  const auto set = compileOk({
      authz(R"(name: "svc" namespace: "foo" target_refs: "Service/web" action: DENY rules {})"),
      authz(R"(name: "gw" namespace: "foo" target_refs: "Gateway/waypoint" )" + kFromOther),
      authz(
          R"(name: "cls" namespace: "istio-system" target_refs: "GatewayClass/istio-waypoint" action: AUDIT rules {})"),
      authz(R"(name: "ns-wide" namespace: "foo" action: DENY rules {})"),
  });
  Request req;
  Decision d = set->evaluate({.ns = "foo", .service = "web"}, req.attrs, Mode::kL7);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "foo/svc");

  d = set->evaluate(
      {.ns = "foo", .service = "api", .gateway = "waypoint", .gateway_class = "istio-waypoint"},
      req.attrs, Mode::kL7);
  EXPECT_FALSE(d.allowed);  // only foo/gw (ALLOW from other) applies; ns-wide DENY does not
  EXPECT_EQ(d.reason, Decision::Reason::kNoAllowMatched);
  EXPECT_EQ(d.audit_policy, "istio-system/cls");

  d = set->evaluate({.ns = "bar", .service = "web"}, req.attrs, Mode::kL7);
  EXPECT_TRUE(d.allowed);  // Service/web in foo does not name bar's web
}

TEST(RbacScope, AuditNeverChangesDecision) {
  const auto set =
      compileOk({authz(R"(name: "audit" namespace: "foo" action: AUDIT rules {})"),
                 authz(R"(name: "deny" namespace: "foo" action: DENY )" + kFromOther)});
  Request req;
  const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, Decision::Reason::kNoPolicy);
  EXPECT_EQ(d.audit_policy, "foo/audit");
}

TEST(RbacScope, CustomIsIgnoredAndReported) {
  auto set = compile({authz(R"(name: "ext" namespace: "foo" action: CUSTOM rules {})")}, {},
                     "istio-system");
  ASSERT_TRUE(set.isOk());
  ASSERT_EQ((*set)->warnings().size(), 1u);
  EXPECT_THAT((*set)->warnings()[0], ::testing::HasSubstr("foo/ext: action CUSTOM"));
  Request req;
  const Decision d = (*set)->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.custom_ignored);
}

// L4 (ztunnel) handling of rules that use L7-only fields.
struct L4Case {
  const char* name;
  const char* action;
  const char* rules;
  bool allowed_l4;
  bool allowed_l7;
};

void PrintTo(const L4Case& c, std::ostream* os) { *os << c.name; }

const L4Case kL4Cases[] = {
    {"allow_methods_never_matches", "ALLOW", R"(rules { to { methods { exact: "GET" } } })", false,
     true},
    {"allow_paths", "ALLOW", R"(rules { to { paths { prefix: "/api/" } } })", false, true},
    {"allow_hosts", "ALLOW", R"(rules { to { hosts { presence: true } } })", false, true},
    {"allow_not_paths", "ALLOW", R"(rules { to { not_paths { exact: "/x" } } })", false, true},
    {"allow_request_principals", "ALLOW",
     R"(rules { from { request_principals { presence: true } } })", false, true},
    {"allow_remote_ip", "ALLOW", R"(rules { from { remote_ip_blocks: "10.0.0.0/8" } })", false,
     true},
    {"allow_when_header", "ALLOW",
     R"(rules { when { key: "request.headers[x-user]" values: "alice" } })", false, true},
    {"allow_when_claim", "ALLOW",
     R"(rules { when { key: "request.auth.claims[groups]" values: "g1" } })", false, true},
    {"allow_l7_and_l4_rule", "ALLOW",
     R"(rules { to { methods { exact: "GET" } } } rules { to { ports: 8080 } })", true, true},
    {"allow_l4_rule_unaffected", "ALLOW",
     R"(rules { from { namespaces { exact: "client" } } to { ports: 8080 } })", true, true},
    {"deny_methods_ignored", "DENY", R"(rules { to { methods { exact: "POST" } } })", false, true},
    {"deny_l7_with_l4_match", "DENY",
     R"(rules { from { namespaces { exact: "client" } } to { paths { exact: "/admin" } } })", false,
     true},
    {"deny_l7_with_l4_miss", "DENY",
     R"(rules { from { namespaces { exact: "other" } } to { paths { exact: "/admin" } } })", true,
     true},
    {"deny_when_header_ignored", "DENY",
     R"(rules { to { ports: 8080 } when { key: "request.headers[x-user]" values: "bob" } })", false,
     true},
    {"deny_when_l4_key_still_checked", "DENY",
     R"(rules { when { key: "destination.port" values: "9090" } when { key: "request.auth.principal" values: "*" } })",
     true, true},
    {"deny_request_principal_ignored", "DENY",
     R"(rules { from { request_principals { exact: "nobody" } } })", false, true},
};

class L4Test : public ::testing::TestWithParam<L4Case> {};

TEST_P(L4Test, Decision) {
  const L4Case& c = GetParam();
  const auto set = compileOk(
      {authz(std::string("name: \"p\" namespace: \"foo\" action: ") + c.action + " " + c.rules)});
  Request req;
  EXPECT_EQ(set->evaluate({.ns = "foo"}, req.attrs, Mode::kL4).allowed, c.allowed_l4);
  EXPECT_EQ(set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7).allowed, c.allowed_l7);
}

INSTANTIATE_TEST_SUITE_P(Rbac, L4Test, ::testing::ValuesIn(kL4Cases),
                         [](const auto& info) { return std::string(info.param.name); });

struct ErrorCase {
  const char* name;
  const char* policy;
  const char* message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

const ErrorCase kErrors[] = {
    {"bad_cidr_prefix", R"(rules { from { ip_blocks: "10.0.0.0/33" } })",
     "AuthorizationPolicy foo/bad: rules[0].from[0].source.ipBlocks[0]: invalid CIDR "
     "'10.0.0.0/33'"},
    {"bad_cidr_addr", R"(rules {} rules { from {} from { not_ip_blocks: "10.0.0.300" } })",
     "AuthorizationPolicy foo/bad: rules[1].from[1].source.notIpBlocks[0]: invalid CIDR"},
    {"bad_v6_prefix", R"(rules { from { remote_ip_blocks: "2001:db8::/129" } })",
     "remoteIpBlocks[0]: invalid CIDR '2001:db8::/129'"},
    {"unknown_key", R"(rules { when { key: "request.body" values: "x" } })",
     "AuthorizationPolicy foo/bad: rules[0].when[0]: unknown or unsupported condition key "
     "'request.body'"},
    {"empty_header_name", R"(rules { when { key: "request.headers[]" values: "x" } })",
     "unknown or unsupported condition key 'request.headers[]'"},
    {"bad_claim_path", R"(rules { when { key: "request.auth.claims[a][]" values: "x" } })",
     "condition key 'request.auth.claims[a][]'"},
    {"bad_when_ip", R"(rules { when { key: "source.ip" values: "nope" } })",
     "rules[0].when[0]: key 'source.ip': invalid CIDR 'nope'"},
    {"bad_when_port", R"(rules { when { key: "destination.port" values: "70000" } })",
     "key 'destination.port': invalid port '70000'"},
    {"empty_condition", R"(rules { when { key: "source.ip" } })",
     "condition 'source.ip' has neither values nor notValues"},
    {"bad_target_ref", R"(target_refs: "web")", "targetRefs[0]: 'web' is not <Kind>/<name>"},
};

class CompileErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CompileErrorTest, NamesPolicyAndField) {
  const ErrorCase& c = GetParam();
  const auto set = compile({authz(R"(name: "ok" namespace: "foo" rules {})"),
                            authz(std::string(R"(name: "bad" namespace: "foo" )") + c.policy)},
                           {}, "istio-system");
  ASSERT_FALSE(set.isOk());
  EXPECT_THAT(set.error().message, ::testing::HasSubstr(c.message));
  EXPECT_THAT(set.error().message, ::testing::HasSubstr("foo/bad"));
}

INSTANTIATE_TEST_SUITE_P(Rbac, CompileErrorTest, ::testing::ValuesIn(kErrors),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RbacScope, PlaintextPrincipalNamespaceDerivation) {
  EXPECT_EQ(namespaceFromPrincipal("spiffe://cluster.local/ns/foo/sa/bar"), "foo");
  EXPECT_EQ(namespaceFromPrincipal("cluster.local/ns/foo/sa/bar"), "foo");
  EXPECT_EQ(namespaceFromPrincipal("spiffe://cluster.local/x/foo"), "");
  EXPECT_EQ(namespaceFromPrincipal(""), "");
}

}  // namespace
}  // namespace ambit::rbac::testing
