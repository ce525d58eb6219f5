// Every rule field, its not-form, and every `when` key, evaluated in L7 mode against one
// request. Each case runs as an ALLOW policy (matches ⇔ allowed) and as a DENY policy
// (matches ⇔ denied).
#include "tests/unit/rbac/rbac_test_util.h"

namespace ambit::rbac::testing {
namespace {

using Mutate = void (*)(Attributes&);

struct FieldCase {
  const char* name;
  const char* rule;  // text of one `rules { ... }` body
  bool matches;
  Mutate mutate = nullptr;
};

void PrintTo(const FieldCase& c, std::ostream* os) { *os << c.name; }

void plaintext(Attributes& a) { a.source_principal = ""; }
void v6Source(Attributes& a) { a.source_ip = *IpAddress::parse("2001:db8::1"); }
void mappedSource(Attributes& a) { a.source_ip = *IpAddress::parse("::ffff:10.0.0.1"); }
void noJwt(Attributes& a) {
  a.request_principal = "";
  a.claims = nullptr;
}
void explicitNs(Attributes& a) { a.source_namespace = "other"; }
void noHeaders(Attributes& a) { a.headers = nullptr; }

const FieldCase kCases[] = {
    {"empty_rule", "", true},
    // principals
    {"principal_exact", R"(from { principals { exact: "cluster.local/ns/client/sa/app" } })", true},
    {"principal_spiffe_form",
     R"(from { principals { exact: "spiffe://cluster.local/ns/client/sa/app" } })", true},
    {"principal_prefix", R"(from { principals { prefix: "cluster.local/ns/client/" } })", true},
    {"principal_suffix", R"(from { principals { suffix: "/sa/app" } })", true},
    {"principal_presence", R"(from { principals { presence: true } })", true},
    {"principal_presence_plaintext", R"(from { principals { presence: true } })", false, plaintext},
    {"principal_mismatch", R"(from { principals { exact: "cluster.local/ns/client/sa/other" } })",
     false},
    {"not_principal_hit", R"(from { not_principals { exact: "cluster.local/ns/client/sa/app" } })",
     false},
    {"not_principal_miss", R"(from { not_principals { exact: "cluster.local/ns/x/sa/y" } })", true},
    {"not_principal_presence_plaintext", R"(from { not_principals { presence: true } })", true,
     plaintext},
    // namespaces
    {"namespace_exact", R"(from { namespaces { exact: "client" } })", true},
    {"namespace_mismatch", R"(from { namespaces { exact: "other" } })", false},
    {"namespace_explicit_attr", R"(from { namespaces { exact: "other" } })", true, explicitNs},
    {"namespace_plaintext", R"(from { namespaces { presence: true } })", false, plaintext},
    {"not_namespace_hit", R"(from { not_namespaces { exact: "client" } })", false},
    {"not_namespace_miss", R"(from { not_namespaces { prefix: "kube-" } })", true},
    // ipBlocks
    {"ipblock_v4_cidr", R"(from { ip_blocks: "10.0.0.0/24" })", true},
    {"ipblock_v4_single", R"(from { ip_blocks: "10.0.0.1" })", true},
    {"ipblock_v4_miss", R"(from { ip_blocks: "10.0.1.0/24" })", false},
    {"ipblock_v4_host_bits", R"(from { ip_blocks: "10.0.0.77/24" })", true},
    {"ipblock_v4_zero", R"(from { ip_blocks: "0.0.0.0/0" })", true},
    {"ipblock_v6_hit", R"(from { ip_blocks: "2001:db8::/32" })", true, v6Source},
    {"ipblock_v6_miss", R"(from { ip_blocks: "2001:db9::/32" })", false, v6Source},
    {"ipblock_v6_single", R"(from { ip_blocks: "2001:db8::1" })", true, v6Source},
    {"ipblock_v4_vs_v6", R"(from { ip_blocks: "0.0.0.0/0" })", false, v6Source},
    {"ipblock_mapped_addr", R"(from { ip_blocks: "10.0.0.0/8" })", true, mappedSource},
    {"ipblock_mapped_cidr", R"(from { ip_blocks: "::ffff:10.0.0.0/104" })", true},
    {"not_ipblock_hit", R"(from { not_ip_blocks: "10.0.0.1/32" })", false},
    {"not_ipblock_miss", R"(from { not_ip_blocks: "192.168.0.0/16" })", true},
    {"not_ipblock_v6_hit", R"(from { not_ip_blocks: "2001:db8::/64" })", false, v6Source},
    {"ipblock_and_not", R"(from { ip_blocks: "10.0.0.0/8" not_ip_blocks: "10.0.0.0/30" })", false},
    // L7 sources
    {"request_principal_hit", R"(from { request_principals { exact: "https://issuer/user1" } })",
     true},
    {"request_principal_miss", R"(from { request_principals { prefix: "https://other/" } })",
     false},
    {"request_principal_no_jwt", R"(from { request_principals { presence: true } })", false, noJwt},
    {"not_request_principal_no_jwt", R"(from { not_request_principals { presence: true } })", true,
     noJwt},
    {"not_request_principal_hit", R"(from { not_request_principals { suffix: "/user1" } })", false},
    {"remote_ipblock_hit", R"(from { remote_ip_blocks: "10.0.0.0/8" })", true},
    {"not_remote_ipblock_hit", R"(from { not_remote_ip_blocks: "10.0.0.0/8" })", false},
    // combination inside and across sources
    {"source_fields_and", R"(from { principals { presence: true } namespaces { exact: "other" } })",
     false},
    {"sources_or", R"(from { namespaces { exact: "other" } } from { ip_blocks: "10.0.0.1" })",
     true},
    // operation: ports
    {"port_hit", "to { ports: 8080 }", true},
    {"port_miss", "to { ports: 9090 }", false},
    {"not_port_hit", "to { not_ports: 8080 }", false},
    {"not_port_miss", "to { not_ports: 9090 }", true},
    {"ports_any", "to { ports: 80 ports: 8080 }", true},
    // hosts (case-insensitive, port ignored)
    {"host_exact", R"(to { hosts { exact: "svc.foo.svc.cluster.local" } })", true},
    {"host_upper_policy", R"(to { hosts { exact: "SVC.FOO.SVC.CLUSTER.LOCAL" } })", true},
    {"host_prefix", R"(to { hosts { prefix: "svc.foo." } })", true},
    {"host_suffix", R"(to { hosts { suffix: ".cluster.local" } })", true},
    {"host_miss", R"(to { hosts { exact: "svc.bar" } })", false},
    {"not_host_hit", R"(to { not_hosts { suffix: ".CLUSTER.local" } })", false},
    // methods
    {"method_hit", R"(to { methods { exact: "GET" } })", true},
    {"method_miss", R"(to { methods { exact: "POST" } })", false},
    {"method_case_sensitive", R"(to { methods { exact: "get" } })", false},
    {"not_method_hit", R"(to { not_methods { exact: "GET" } })", false},
    {"not_method_miss", R"(to { not_methods { exact: "DELETE" } })", true},
    // paths (query ignored)
    {"path_exact", R"(to { paths { exact: "/api/v1/items" } })", true},
    {"path_prefix", R"(to { paths { prefix: "/api/" } })", true},
    {"path_suffix", R"(to { paths { suffix: "/items" } })", true},
    {"path_presence", R"(to { paths { presence: true } })", true},
    {"path_miss", R"(to { paths { exact: "/admin" } })", false},
    {"not_path_hit", R"(to { not_paths { prefix: "/api/" } })", false},
    {"not_path_miss", R"(to { not_paths { prefix: "/admin" } })", true},
    {"operation_fields_and", R"(to { ports: 8080 methods { exact: "POST" } })", false},
    {"operations_or", R"(to { methods { exact: "POST" } } to { ports: 8080 })", true},
    {"from_and_to", R"(from { namespaces { exact: "client" } } to { ports: 9090 })", false},
    // when: every key
    {"when_source_ip", R"(when { key: "source.ip" values: "10.0.0.0/8" })", true},
    {"when_source_ip_not", R"(when { key: "source.ip" not_values: "10.0.0.1" })", false},
    {"when_source_ip_v6", R"(when { key: "source.ip" values: "2001:db8::/48" })", true, v6Source},
    {"when_remote_ip", R"(when { key: "remote.ip" values: "10.0.0.1/32" })", true},
    {"when_remote_ip_not", R"(when { key: "remote.ip" not_values: "10.0.0.0/8" })", false},
    {"when_source_namespace", R"(when { key: "source.namespace" values: "client" })", true},
    {"when_source_namespace_not", R"(when { key: "source.namespace" not_values: "cli*" })", false},
    {"when_source_principal",
     R"(when { key: "source.principal" values: "cluster.local/ns/client/sa/app" })", true},
    {"when_source_principal_spiffe",
     R"(when { key: "source.principal" values: "spiffe://cluster.local/ns/client/*" })", true},
    {"when_source_principal_plaintext", R"(when { key: "source.principal" values: "*" })", false,
     plaintext},
    {"when_destination_ip", R"(when { key: "destination.ip" values: "10.0.1.0/24" })", true},
    {"when_destination_ip_not", R"(when { key: "destination.ip" not_values: "10.0.1.5" })", false},
    {"when_destination_port", R"(when { key: "destination.port" values: "80" values: "8080" })",
     true},
    {"when_destination_port_miss", R"(when { key: "destination.port" values: "80" })", false},
    {"when_destination_port_not", R"(when { key: "destination.port" not_values: "8080" })", false},
    {"when_sni", R"(when { key: "connection.sni" values: "svc.*" })", true},
    {"when_header", R"(when { key: "request.headers[x-user]" values: "alice" })", true},
    {"when_header_name_case", R"(when { key: "request.headers[X-User]" values: "ali*" })", true},
    {"when_header_miss", R"(when { key: "request.headers[x-user]" values: "bob" })", false},
    {"when_header_not", R"(when { key: "request.headers[x-user]" not_values: "alice" })", false},
    {"when_header_absent", R"(when { key: "request.headers[x-none]" values: "*" })", false},
    {"when_header_absent_not", R"(when { key: "request.headers[x-none]" not_values: "*" })", true},
    {"when_header_no_headers", R"(when { key: "request.headers[x-user]" values: "*" })", false,
     noHeaders},
    {"when_auth_principal", R"(when { key: "request.auth.principal" values: "https://issuer/*" })",
     true},
    {"when_auth_principal_not", R"(when { key: "request.auth.principal" not_values: "*" })", true,
     noJwt},
    {"when_audiences", R"(when { key: "request.auth.audiences" values: "aud2" })", true},
    {"when_audiences_not", R"(when { key: "request.auth.audiences" not_values: "aud1" })", false},
    {"when_presenter", R"(when { key: "request.auth.presenter" values: "presenter1" })", true},
    {"when_presenter_miss", R"(when { key: "request.auth.presenter" values: "x" })", false},
    {"when_claim_list", R"(when { key: "request.auth.claims[groups]" values: "g2" })", true},
    {"when_claim_miss", R"(when { key: "request.auth.claims[groups]" values: "g3" })", false},
    {"when_claim_not", R"(when { key: "request.auth.claims[groups]" not_values: "g1" })", false},
    {"when_claim_nested", R"(when { key: "request.auth.claims[nested][key]" values: "deep" })",
     true},
    {"when_claim_absent", R"(when { key: "request.auth.claims[missing]" values: "*" })", false},
    {"when_claim_no_jwt", R"(when { key: "request.auth.claims[groups]" values: "g1" })", false,
     noJwt},
    {"when_values_or", R"(when { key: "request.headers[x-user]" values: "bob" values: "alice" })",
     true},
    {"when_conditions_and",
     R"(when { key: "source.namespace" values: "client" } when { key: "destination.port" values: "1" })",
     false},
    {"when_values_and_not",
     R"(when { key: "source.ip" values: "10.0.0.0/8" not_values: "10.0.0.1" })", false},
};

class FieldTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(FieldTest, AllowAndDeny) {
  const FieldCase& c = GetParam();
  for (const char* action : {"ALLOW", "DENY"}) {
    const auto set = compileOk({authz(std::string("name: \"p\" namespace: \"foo\" action: ") +
                                      action + " rules { " + c.rule + " }")});
    ASSERT_NE(set, nullptr);
    Request req;
    if (c.mutate) c.mutate(req.attrs);
    const Decision d = set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7);
    const bool is_allow = std::string_view(action) == "ALLOW";
    EXPECT_EQ(d.allowed, is_allow == c.matches) << action;
    EXPECT_EQ(d.policy, c.matches ? "foo/p" : "") << action;
  }
}

INSTANTIATE_TEST_SUITE_P(Rbac, FieldTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ambit::rbac::testing
