// Matching a compiled policy against one connection/request. Hot path: no allocation.
#include <algorithm>
#include <span>

#include "common/rbac/compiled_policy.h"
#include "common/rbac/path_normalize.h"

namespace ambit::rbac::detail {
namespace {

constexpr std::string_view kSpiffePrefix = "spiffe://";

template <typename Matchers, typename Value>
bool anyMatches(const Matchers& ms, const Value& v) {
  for (const auto& m : ms) {
    if (m.matches(v)) return true;
  }
  return false;
}

// A field and its not-form: the positive list (if any) must match, the negative must not.
bool fieldOk(const std::vector<StringMatcher>& pos, const std::vector<StringMatcher>& neg,
             std::string_view v) {
  return (pos.empty() || anyMatches(pos, v)) && !anyMatches(neg, v);
}

bool cidrOk(const std::vector<Cidr>& pos, const std::vector<Cidr>& neg, const IpAddress& ip) {
  const auto in = [&ip](const std::vector<Cidr>& cs) {
    for (const auto& c : cs) {
      if (c.contains(ip)) return true;
    }
    return false;
  };
  return (pos.empty() || in(pos)) && !in(neg);
}

bool portOk(const std::vector<uint32_t>& pos, const std::vector<uint32_t>& neg, uint32_t port) {
  const auto in = [port](const std::vector<uint32_t>& ps) {
    return std::find(ps.begin(), ps.end(), port) != ps.end();
  };
  return (pos.empty() || in(pos)) && !in(neg);
}

// Multi-valued attribute (JWT list claims): values must match some element, notValues none.
// An absent attribute is an empty list.
bool multiOk(const std::vector<StringMatcher>& pos, const std::vector<StringMatcher>& neg,
             std::span<const std::string> vs) {
  const auto any = [&vs](const std::vector<StringMatcher>& ms) {
    for (const auto& v : vs) {
      if (anyMatches(ms, v)) return true;
    }
    return false;
  };
  return (pos.empty() || any(pos)) && !any(neg);
}

std::span<const std::string> claim(const Attributes& a, std::string_view name) {
  if (a.claims == nullptr) return {};
  const auto it = a.claims->find(name);
  return it == a.claims->end() ? std::span<const std::string>() : std::span(it->second);
}

bool sourceMatches(const CompiledSource& s, const MatchContext& m, Mode mode) {
  if (!fieldOk(s.principals, s.not_principals, m.principal) ||
      !fieldOk(s.namespaces, s.not_namespaces, m.source_ns) ||
      !cidrOk(s.ip_blocks, s.not_ip_blocks, m.attrs.source_ip)) {
    return false;
  }
  if (mode == Mode::kL4) return true;  // L7-only parts ignored (DENY only gets here)
  return fieldOk(s.request_principals, s.not_request_principals, m.attrs.request_principal) &&
         cidrOk(s.remote_ip_blocks, s.not_remote_ip_blocks, m.attrs.source_ip);
}

bool operationMatches(const CompiledOperation& o, const MatchContext& m, Mode mode) {
  if (!portOk(o.ports, o.not_ports, m.attrs.destination_port)) return false;
  if (mode == Mode::kL4) return true;
  return fieldOk(o.hosts, o.not_hosts, m.host) &&
         fieldOk(o.methods, o.not_methods, m.attrs.method) && fieldOk(o.paths, o.not_paths, m.path);
}

bool stringConditionOk(const CompiledCondition& c, const MatchContext& m) {
  const Attributes& a = m.attrs;
  switch (c.key) {
    case ConditionKey::kSourceNamespace:
      return fieldOk(c.values, c.not_values, m.source_ns);
    case ConditionKey::kSourcePrincipal:
      return fieldOk(c.values, c.not_values, m.principal);
    case ConditionKey::kConnectionSni:
      return fieldOk(c.values, c.not_values, a.sni);
    case ConditionKey::kAuthPrincipal:
      return fieldOk(c.values, c.not_values, a.request_principal);
    case ConditionKey::kRequestHeader: {
      const auto v = a.headers ? a.headers->get(c.arg) : std::nullopt;
      if (!v) return multiOk(c.values, c.not_values, {});
      return fieldOk(c.values, c.not_values, *v);
    }
    case ConditionKey::kAuthAudiences:
      return multiOk(c.values, c.not_values, claim(a, "aud"));
    case ConditionKey::kAuthPresenter:
      return multiOk(c.values, c.not_values, claim(a, "azp"));
    case ConditionKey::kAuthClaim:
      return multiOk(c.values, c.not_values, claim(a, c.arg));
    default:
      return false;
  }
}

bool conditionMatches(const CompiledCondition& c, const MatchContext& m, Mode mode) {
  if (mode == Mode::kL4 && isL7Key(c.key)) return true;  // ignored (DENY only gets here)
  switch (c.key) {
    case ConditionKey::kSourceIp:
    case ConditionKey::kRemoteIp:
      return cidrOk(c.cidrs, c.not_cidrs, m.attrs.source_ip);
    case ConditionKey::kDestinationIp:
      return cidrOk(c.cidrs, c.not_cidrs, m.attrs.destination_ip);
    case ConditionKey::kDestinationPort:
      return portOk(c.ports, c.not_ports, m.attrs.destination_port);
    default:
      return stringConditionOk(c, m);
  }
}

bool ruleMatches(const CompiledRule& r, const MatchContext& m, Mode mode) {
  if (!r.from.empty()) {
    const bool any = std::any_of(r.from.begin(), r.from.end(), [&](const CompiledSource& s) {
      return sourceMatches(s, m, mode);
    });
    if (!any) return false;
  }
  if (!r.to.empty()) {
    const bool any = std::any_of(r.to.begin(), r.to.end(), [&](const CompiledOperation& o) {
      return operationMatches(o, m, mode);
    });
    if (!any) return false;
  }
  return std::all_of(r.when.begin(), r.when.end(),
                     [&](const CompiledCondition& c) { return conditionMatches(c, m, mode); });
}

}  // namespace

MatchContext makeMatchContext(const Attributes& a) {
  std::string_view principal = a.source_principal;
  if (principal.rfind(kSpiffePrefix, 0) == 0) principal.remove_prefix(kSpiffePrefix.size());
  const std::string_view ns =
      a.source_namespace.empty() ? namespaceFromPrincipal(principal) : a.source_namespace;
  return MatchContext{a, principal, ns, pathForMatch(a.path), hostForMatch(a.host)};
}

RuleTrace traceRule(const CompiledPolicy& p, size_t rule, const MatchContext& m, Mode mode) {
  const CompiledRule& r = p.rules[rule];
  RuleTrace t;
  const bool l4_deny = mode == Mode::kL4 && p.action == v1::AuthorizationPolicy::DENY;
  if (mode == Mode::kL4 && r.uses_l7 && !l4_deny) {
    t.outcome = RuleTrace::Outcome::kSkippedAtL4;
    return t;
  }
  if (!r.from.empty() && std::none_of(r.from.begin(), r.from.end(), [&](const CompiledSource& s) {
        return sourceMatches(s, m, mode);
      })) {
    t.failed = RuleTrace::Clause::kFrom;
    return t;
  }
  if (!r.to.empty() && std::none_of(r.to.begin(), r.to.end(), [&](const CompiledOperation& o) {
        return operationMatches(o, m, mode);
      })) {
    t.failed = RuleTrace::Clause::kTo;
    return t;
  }
  for (size_t i = 0; i < r.when.size(); ++i) {
    if (!conditionMatches(r.when[i], m, mode)) {
      t.failed = RuleTrace::Clause::kWhen;
      t.when_index = static_cast<uint32_t>(i);
      return t;
    }
  }
  t.outcome = RuleTrace::Outcome::kMatched;
  return t;
}

bool policyMatches(const CompiledPolicy& p, const MatchContext& m, Mode mode) {
  const bool l4_deny = mode == Mode::kL4 && p.action == v1::AuthorizationPolicy::DENY;
  for (const auto& rule : p.rules) {
    if (mode == Mode::kL4 && rule.uses_l7 && !l4_deny) continue;  // never matches at L4
    if (ruleMatches(rule, m, mode)) return true;
  }
  return false;
}

bool selectorMatches(const std::vector<std::pair<std::string, std::string>>& selector,
                     const Labels* labels) {
  for (const auto& [key, value] : selector) {
    if (labels == nullptr) return false;
    const auto it = labels->find(key);
    if (it == labels->end() || it->second != value) return false;
  }
  return true;
}

}  // namespace ambit::rbac::detail
