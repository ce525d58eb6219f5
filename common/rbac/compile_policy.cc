// AuthorizationPolicy proto → CompiledPolicy: parses CIDRs, ports and condition keys once and
// records which rules need L7 attributes.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/rbac/compiled_policy.h"

namespace ambit::rbac::detail {
namespace {

using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;

constexpr std::string_view kSpiffePrefix = "spiffe://";

std::string stripSpiffe(std::string v) {
  return v.rfind(kSpiffePrefix, 0) == 0 ? v.substr(kSpiffePrefix.size()) : v;
}

std::vector<StringMatcher> matchers(const RepeatedPtrField<v1::StringMatch>& in,
                                    StringMatcher::Case c = StringMatcher::Case::kSensitive) {
  std::vector<StringMatcher> out;
  out.reserve(in.size());
  for (const auto& m : in) out.push_back(StringMatcher::fromProto(m, c));
  return out;
}

// Principals are matched without the "spiffe://" scheme, as Istio writes them
// ("cluster.local/ns/foo/sa/bar"); a policy that spells the scheme out still matches.
std::vector<StringMatcher> principalMatchers(const RepeatedPtrField<v1::StringMatch>& in) {
  std::vector<StringMatcher> out = matchers(in);
  for (auto& m : out) {
    if (m.kind() == StringMatcher::Kind::kExact || m.kind() == StringMatcher::Kind::kPrefix) {
      m = StringMatcher(m.kind(), stripSpiffe(m.value()));
    }
  }
  return out;
}

Result<std::vector<Cidr>> cidrs(const RepeatedPtrField<std::string>& in, std::string_view where) {
  std::vector<Cidr> out;
  out.reserve(in.size());
  for (int i = 0; i < in.size(); ++i) {
    auto c = Cidr::parse(in[i]);
    if (!c) return c.error().context(fmt::format("{}[{}]", where, i));
    out.push_back(*c);
  }
  return out;
}

std::vector<uint32_t> ports(const RepeatedField<uint32_t>& in) { return {in.begin(), in.end()}; }

Result<CompiledSource> compileSource(const v1::Source& s, const std::string& where, bool* l7) {
  CompiledSource out;
  out.principals = principalMatchers(s.principals());
  out.not_principals = principalMatchers(s.not_principals());
  out.namespaces = matchers(s.namespaces());
  out.not_namespaces = matchers(s.not_namespaces());
  out.request_principals = matchers(s.request_principals());
  out.not_request_principals = matchers(s.not_request_principals());
  auto ip = cidrs(s.ip_blocks(), where + ".ipBlocks");
  auto not_ip = cidrs(s.not_ip_blocks(), where + ".notIpBlocks");
  auto remote = cidrs(s.remote_ip_blocks(), where + ".remoteIpBlocks");
  auto not_remote = cidrs(s.not_remote_ip_blocks(), where + ".notRemoteIpBlocks");
  for (const auto* r : {&ip, &not_ip, &remote, &not_remote}) AMBIT_TRY(*r);
  out.ip_blocks = std::move(*ip);
  out.not_ip_blocks = std::move(*not_ip);
  out.remote_ip_blocks = std::move(*remote);
  out.not_remote_ip_blocks = std::move(*not_remote);
  *l7 = *l7 || !out.request_principals.empty() || !out.not_request_principals.empty() ||
        !out.remote_ip_blocks.empty() || !out.not_remote_ip_blocks.empty();
  return out;
}

CompiledOperation compileOperation(const v1::Operation& o, bool* l7) {
  CompiledOperation out;
  out.ports = ports(o.ports());
  out.not_ports = ports(o.not_ports());
  out.hosts = matchers(o.hosts(), StringMatcher::Case::kInsensitive);
  out.not_hosts = matchers(o.not_hosts(), StringMatcher::Case::kInsensitive);
  out.methods = matchers(o.methods());
  out.not_methods = matchers(o.not_methods());
  out.paths = matchers(o.paths());
  out.not_paths = matchers(o.not_paths());
  *l7 = *l7 || !out.hosts.empty() || !out.not_hosts.empty() || !out.methods.empty() ||
        !out.not_methods.empty() || !out.paths.empty() || !out.not_paths.empty();
  return out;
}

// "prefix[<arg>]" → arg; nullopt when `key` is not of that shape.
std::optional<std::string_view> bracketArg(std::string_view key, std::string_view prefix) {
  if (key.rfind(prefix, 0) != 0 || key.size() < prefix.size() + 2 || key.back() != ']') {
    return std::nullopt;
  }
  return key.substr(prefix.size(), key.size() - prefix.size() - 1);
}

Result<CompiledCondition> parseKey(std::string_view key) {
  static const std::pair<std::string_view, ConditionKey> kExact[] = {
      {"source.ip", ConditionKey::kSourceIp},
      {"remote.ip", ConditionKey::kRemoteIp},
      {"source.namespace", ConditionKey::kSourceNamespace},
      {"source.principal", ConditionKey::kSourcePrincipal},
      {"destination.ip", ConditionKey::kDestinationIp},
      {"destination.port", ConditionKey::kDestinationPort},
      {"connection.sni", ConditionKey::kConnectionSni},
      {"request.auth.principal", ConditionKey::kAuthPrincipal},
      {"request.auth.audiences", ConditionKey::kAuthAudiences},
      {"request.auth.presenter", ConditionKey::kAuthPresenter},
  };
  CompiledCondition out;
  for (const auto& [name, k] : kExact) {
    if (key == name) {
      out.key = k;
      return out;
    }
  }
  if (auto h = bracketArg(key, "request.headers["); h && h->find_first_of("[]") == h->npos) {
    out.key = ConditionKey::kRequestHeader;
    out.arg = toLowerAscii(*h);
    return out;
  }
  if (auto c = bracketArg(key, "request.auth.claims[")) {
    std::string_view rest = *c;
    bool ok = true;
    for (size_t pos = 0; ok;) {  // every path segment non-empty and bracket-free
      const size_t next = rest.find(kClaimPathSeparator, pos);
      const std::string_view seg = rest.substr(pos, next - pos);
      ok = !seg.empty() && seg.find_first_of("[]") == seg.npos;
      if (next == rest.npos) break;
      pos = next + kClaimPathSeparator.size();
    }
    if (ok) {
      out.key = ConditionKey::kAuthClaim;
      out.arg = std::string(rest);
      return out;
    }
  }
  return makeError("unknown or unsupported condition key '{}'", key);
}

Status parseValues(const RepeatedPtrField<std::string>& in, CompiledCondition& c, bool negated) {
  for (const auto& v : in) {
    switch (c.key) {
      case ConditionKey::kSourceIp:
      case ConditionKey::kRemoteIp:
      case ConditionKey::kDestinationIp: {
        auto cidr = Cidr::parse(v);
        if (!cidr) return cidr.error();
        (negated ? c.not_cidrs : c.cidrs).push_back(*cidr);
        break;
      }
      case ConditionKey::kDestinationPort: {
        uint32_t port = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
        if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || port > 65535) {
          return makeError("invalid port '{}'", v);
        }
        (negated ? c.not_ports : c.ports).push_back(port);
        break;
      }
      case ConditionKey::kSourcePrincipal: {
        auto m = StringMatcher::fromPattern(v);
        if (m.kind() == StringMatcher::Kind::kExact || m.kind() == StringMatcher::Kind::kPrefix) {
          m = StringMatcher(m.kind(), stripSpiffe(m.value()));
        }
        (negated ? c.not_values : c.values).push_back(std::move(m));
        break;
      }
      default:
        (negated ? c.not_values : c.values).push_back(StringMatcher::fromPattern(v));
    }
  }
  return Status::ok();
}

Result<CompiledCondition> compileCondition(const v1::Condition& w) {
  auto c = parseKey(w.key());
  AMBIT_TRY(c);
  if (w.values().empty() && w.not_values().empty()) {
    return makeError("condition '{}' has neither values nor notValues", w.key());
  }
  const std::string key_ctx = fmt::format("key '{}'", w.key());
  if (auto s = parseValues(w.values(), *c, false); !s) return s.error().context(key_ctx);
  if (auto s = parseValues(w.not_values(), *c, true); !s) return s.error().context(key_ctx);
  return std::move(*c);
}

Result<CompiledRule> compileRule(const v1::Rule& r, const std::string& where) {
  CompiledRule out;
  for (int i = 0; i < r.from_size(); ++i) {
    auto s = compileSource(r.from(i), fmt::format("{}.from[{}].source", where, i), &out.uses_l7);
    AMBIT_TRY(s);
    out.from.push_back(std::move(*s));
  }
  for (const auto& o : r.to()) out.to.push_back(compileOperation(o, &out.uses_l7));
  for (int i = 0; i < r.when_size(); ++i) {
    auto c = compileCondition(r.when(i));
    if (!c) return c.error().context(fmt::format("{}.when[{}]", where, i));
    out.uses_l7 = out.uses_l7 || isL7Key(c->key);
    out.when.push_back(std::move(*c));
  }
  return out;
}

Result<std::vector<TargetRef>> compileTargetRefs(const RepeatedPtrField<std::string>& refs) {
  std::vector<TargetRef> out;
  for (int i = 0; i < refs.size(); ++i) {
    const std::string_view ref = refs[i];
    const auto slash = ref.find('/');
    if (slash == ref.npos || slash == 0 || slash + 1 == ref.size()) {
      return makeError("targetRefs[{}]: '{}' is not <Kind>/<name>", i, ref);
    }
    out.push_back({std::string(ref.substr(0, slash)), std::string(ref.substr(slash + 1))});
  }
  return out;
}

}  // namespace

Result<CompiledPolicy> compilePolicy(const v1::AuthorizationPolicy& p) {
  CompiledPolicy out;
  out.full_name = fmt::format("{}/{}", p.namespace_(), p.name());
  out.ns = p.namespace_();
  out.action = p.action();
  out.selector.assign(p.selector().begin(), p.selector().end());
  std::sort(out.selector.begin(), out.selector.end());
  const auto fail = [&](const Error& e) {
    return e.context(fmt::format("AuthorizationPolicy {}", out.full_name));
  };
  auto refs = compileTargetRefs(p.target_refs());
  if (!refs) return fail(refs.error());
  out.target_refs = std::move(*refs);
  for (int i = 0; i < p.rules_size(); ++i) {
    auto rule = compileRule(p.rules(i), fmt::format("rules[{}]", i));
    if (!rule) return fail(rule.error());
    out.rules.push_back(std::move(*rule));
  }
  return out;
}

}  // namespace ambit::rbac::detail
