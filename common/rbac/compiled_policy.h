#pragma once
// Internal: the compiled form of one AuthorizationPolicy. Built once by compilePolicy(),
// immutable afterwards, matched by policyMatches(). Not part of the public API (rbac.h).

#include <string>
#include <utility>
#include <vector>

#include "ambit/v1/policy.pb.h"
#include "common/rbac/attributes.h"
#include "common/rbac/ip_match.h"
#include "common/rbac/rule_trace.h"
#include "common/rbac/string_match.h"
#include "common/status.h"

namespace ambit::rbac::detail {

struct CompiledSource {
  std::vector<StringMatcher> principals, not_principals;
  std::vector<StringMatcher> namespaces, not_namespaces;
  std::vector<Cidr> ip_blocks, not_ip_blocks;
  // L7-only (see rbac.h).
  std::vector<StringMatcher> request_principals, not_request_principals;
  std::vector<Cidr> remote_ip_blocks, not_remote_ip_blocks;
};

struct CompiledOperation {
  std::vector<uint32_t> ports, not_ports;
  // L7-only.
  std::vector<StringMatcher> hosts, not_hosts;
  std::vector<StringMatcher> methods, not_methods;
  std::vector<StringMatcher> paths, not_paths;
};

enum class ConditionKey : uint8_t {
  kSourceIp,
  kSourceNamespace,
  kSourcePrincipal,
  kDestinationIp,
  kDestinationPort,
  // L7-only from here on.
  kRemoteIp,
  kConnectionSni,
  kRequestHeader,
  kAuthPrincipal,
  kAuthAudiences,
  kAuthPresenter,
  kAuthClaim,
};

inline bool isL7Key(ConditionKey k) { return k >= ConditionKey::kRemoteIp; }

struct CompiledCondition {
  ConditionKey key = ConditionKey::kSourceIp;
  std::string arg;  // header name (lower case) or claim path ("a][b")
  // Exactly one of these value kinds is used, by key: IPs, ports, or strings.
  std::vector<Cidr> cidrs, not_cidrs;
  std::vector<uint32_t> ports, not_ports;
  std::vector<StringMatcher> values, not_values;
};

struct CompiledRule {
  std::vector<CompiledSource> from;
  std::vector<CompiledOperation> to;
  std::vector<CompiledCondition> when;
  bool uses_l7 = false;  // any L7-only field or key
};

struct TargetRef {
  std::string kind;  // "Service", "ServiceEntry", "Gateway", "GatewayClass"
  std::string name;
};

struct CompiledPolicy {
  std::string full_name;  // "ns/name"
  std::string ns;
  v1::AuthorizationPolicy::Action action = v1::AuthorizationPolicy::ALLOW;
  std::vector<std::pair<std::string, std::string>> selector;
  std::vector<TargetRef> target_refs;
  std::vector<CompiledRule> rules;
};

// Errors name the policy and the offending field, e.g.
// "AuthorizationPolicy foo/bar: rules[0].from[1].source.ipBlocks[0]: invalid CIDR ...".
[[nodiscard]] Result<CompiledPolicy> compilePolicy(const v1::AuthorizationPolicy& p);

// Attributes plus the values derived from them once per evaluation (no allocation).
struct MatchContext {
  const Attributes& attrs;
  std::string_view principal;  // source principal without "spiffe://"
  std::string_view source_ns;  // explicit, or derived from the principal
  std::string_view path;       // without ?query / #fragment
  std::string_view host;       // without :port
};
MatchContext makeMatchContext(const Attributes& a);

// True when any rule of the policy matches. In Mode::kL4, a rule using L7-only fields never
// matches for ALLOW/AUDIT policies; for DENY its L7-only parts are ignored.
bool policyMatches(const CompiledPolicy& p, const MatchContext& m, Mode mode);

// One rule of `p` as policyMatches() sees it, with the first clause that failed.
RuleTrace traceRule(const CompiledPolicy& p, size_t rule, const MatchContext& m, Mode mode);

bool selectorMatches(const std::vector<std::pair<std::string, std::string>>& selector,
                     const Labels* labels);

}  // namespace ambit::rbac::detail
