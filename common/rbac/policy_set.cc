// CompiledPolicySet: indexing policies by where they apply, the decision order, and
// PeerAuthentication precedence.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "common/rbac/rbac.h"

namespace ambit::rbac {
namespace {

using AuthzPolicy = v1::AuthorizationPolicy;
using PeerMode = v1::PeerAuthentication::Mode;

// The decision order shared by evaluate() and explain(): the first matching DENY, else the first
// matching ALLOW, else deny when any ALLOW applied. No name: nothing of that kind matched.
void decide(Decision& d, std::optional<std::string_view> deny,
            std::optional<std::string_view> allow, bool any_allow) {
  if (deny) {
    d.allowed = false;
    d.reason = Decision::Reason::kDenyMatched;
    d.policy = *deny;
  } else if (allow) {
    d.reason = Decision::Reason::kAllowMatched;
    d.policy = *allow;
  } else if (any_allow) {
    d.allowed = false;
    d.reason = Decision::Reason::kNoAllowMatched;
  }
}

}  // namespace

std::string_view Decision::reasonText() const {
  switch (reason) {
    case Reason::kNoPolicy:
      return "no authorization policy applies";
    case Reason::kAllowMatched:
      return "allowed by policy";
    case Reason::kDenyMatched:
      return "denied by policy";
    case Reason::kNoAllowMatched:
      return "no ALLOW policy matched";
  }
  return "unknown";
}

bool CompiledPolicySet::targetRefMatches(const detail::CompiledPolicy& p, const Target& t) const {
  for (const auto& ref : p.target_refs) {
    const bool same_ns = p.ns == t.ns;
    if ((ref.kind == "Service" || ref.kind == "ServiceEntry") && same_ns && !t.service.empty() &&
        ref.name == t.service) {
      return true;
    }
    if (ref.kind == "Gateway" && same_ns && !t.gateway.empty() && ref.name == t.gateway) {
      return true;
    }
    if (ref.kind == "GatewayClass" && p.ns == root_namespace_ && !t.gateway_class.empty() &&
        ref.name == t.gateway_class) {
      return true;
    }
  }
  return false;
}

template <typename Fn>
void CompiledPolicySet::forEachApplicable(const Target& t, Fn&& fn) const {
  const auto visit = [&](const std::vector<uint32_t>& ids, auto&& accept) {
    for (const uint32_t id : ids) {
      if (accept(policies_[id])) fn(policies_[id]);
    }
  };
  const auto all = [](const detail::CompiledPolicy&) { return true; };
  const auto selected = [&](const detail::CompiledPolicy& p) {
    return detail::selectorMatches(p.selector, t.labels);
  };
  const auto targeted = [&](const detail::CompiledPolicy& p) { return targetRefMatches(p, t); };
  const auto ns = by_namespace_.find(t.ns);
  if (t.isWaypointTarget()) {
    if (ns != by_namespace_.end()) visit(ns->second.targeted, targeted);
    const auto root = by_namespace_.find(root_namespace_);
    if (t.ns != root_namespace_ && root != by_namespace_.end())
      visit(root->second.targeted, targeted);
    return;
  }
  visit(global_, all);
  visit(root_selector_, selected);
  if (ns != by_namespace_.end()) {
    visit(ns->second.namespace_wide, all);
    visit(ns->second.selector, selected);
  }
}

Decision CompiledPolicySet::evaluate(const Target& t, const Attributes& attrs, Mode mode) const {
  const detail::MatchContext m = detail::makeMatchContext(attrs);
  const detail::CompiledPolicy* deny = nullptr;
  const detail::CompiledPolicy* allow = nullptr;
  bool any_allow = false;
  Decision d;
  forEachApplicable(t, [&](const detail::CompiledPolicy& p) {
    switch (p.action) {
      case AuthzPolicy::DENY:
        if (deny == nullptr && detail::policyMatches(p, m, mode)) deny = &p;
        break;
      case AuthzPolicy::ALLOW:
        any_allow = true;
        if (deny == nullptr && allow == nullptr && detail::policyMatches(p, m, mode)) allow = &p;
        break;
      case AuthzPolicy::AUDIT:
        if (d.audit_policy.empty() && detail::policyMatches(p, m, mode)) {
          d.audit_policy = p.full_name;
        }
        break;
      default:
        d.custom_ignored = true;
    }
  });
  auto name = [](const detail::CompiledPolicy* p) -> std::optional<std::string_view> {
    if (p == nullptr) return std::nullopt;
    return p->full_name;
  };
  decide(d, name(deny), name(allow), any_allow);
  return d;
}

Explanation CompiledPolicySet::explain(const Target& t, const Attributes& attrs, Mode mode) const {
  const detail::MatchContext m = detail::makeMatchContext(attrs);
  Explanation out;
  const PolicyTrace* deny = nullptr;
  const PolicyTrace* allow = nullptr;
  bool any_allow = false;
  forEachApplicable(t, [&](const detail::CompiledPolicy& p) {
    PolicyTrace& trace = out.policies.emplace_back();
    trace.policy = p.full_name;
    trace.action = p.action;
    for (size_t i = 0; i < p.rules.size(); ++i) {
      trace.rules.push_back(detail::traceRule(p, i, m, mode));
      trace.matched = trace.matched || trace.rules.back().outcome == RuleTrace::Outcome::kMatched;
    }
  });
  // The decision order of evaluate(): first matching DENY, else first matching ALLOW, else deny
  // when any ALLOW applies; the first matching AUDIT is reported.
  Decision& d = out.decision;
  for (const PolicyTrace& p : out.policies) {
    switch (p.action) {
      case AuthzPolicy::DENY:
        if (deny == nullptr && p.matched) deny = &p;
        break;
      case AuthzPolicy::ALLOW:
        any_allow = true;
        if (allow == nullptr && p.matched) allow = &p;
        break;
      case AuthzPolicy::AUDIT:
        if (d.audit_policy.empty() && p.matched) d.audit_policy = p.policy;
        break;
      default:
        d.custom_ignored = true;
    }
  }
  auto name = [](const PolicyTrace* p) -> std::optional<std::string_view> {
    if (p == nullptr) return std::nullopt;
    return p->policy;
  };
  decide(d, name(deny), name(allow), any_allow);
  return out;
}

const CompiledPolicySet::PeerAuthn* CompiledPolicySet::workloadPeerAuthn(const Target& t) const {
  const auto it = peer_authn_by_namespace_.find(t.ns);
  if (it == peer_authn_by_namespace_.end()) return nullptr;
  for (const uint32_t id : it->second.selector) {
    if (detail::selectorMatches(peer_authns_[id].selector, t.labels)) return &peer_authns_[id];
  }
  return nullptr;
}

const CompiledPolicySet::PeerAuthn* CompiledPolicySet::namespacePeerAuthn(
    std::string_view ns) const {
  const auto it = peer_authn_by_namespace_.find(ns);
  if (it == peer_authn_by_namespace_.end() || !it->second.namespace_wide) return nullptr;
  return &peer_authns_[*it->second.namespace_wide];
}

PeerMode CompiledPolicySet::effectiveMtls(const Target& t, uint32_t port) const {
  return mtlsDecision(t, port).mode;
}

MtlsDecision CompiledPolicySet::mtlsDecision(const Target& t, uint32_t port) const {
  const PeerAuthn* levels[] = {workloadPeerAuthn(t), namespacePeerAuthn(t.ns),
                               mesh_peer_authn_ ? &peer_authns_[*mesh_peer_authn_] : nullptr};
  for (const PeerAuthn* pa : levels) {
    if (pa == nullptr) continue;
    for (const auto& [p, mode] : pa->port_modes) {
      if (p == port && mode != v1::PeerAuthentication::UNSET) return {mode, pa->full_name, true};
    }
    if (pa->mode != v1::PeerAuthentication::UNSET) return {pa->mode, pa->full_name, false};
  }
  return {};
}

bool CompiledPolicySet::plaintextAllowed(const Target& t, uint32_t port) const {
  return effectiveMtls(t, port) != v1::PeerAuthentication::STRICT;
}

namespace {

template <typename T>
std::vector<const T*> sortedByName(const std::vector<T>& in) {
  std::vector<const T*> out;
  out.reserve(in.size());
  for (const auto& p : in) out.push_back(&p);
  std::sort(out.begin(), out.end(), [](const T* a, const T* b) {
    return std::tie(a->namespace_(), a->name()) < std::tie(b->namespace_(), b->name());
  });
  return out;
}

}  // namespace

Status CompiledPolicySet::addAuthorizationPolicy(const v1::AuthorizationPolicy& p) {
  auto compiled = detail::compilePolicy(p);
  AMBIT_TRY(compiled);
  const auto id = static_cast<uint32_t>(policies_.size());
  if (p.action() == AuthzPolicy::CUSTOM) {
    warnings_.push_back(
        fmt::format("AuthorizationPolicy {}: action CUSTOM is not supported; the policy is ignored",
                    compiled->full_name));
  }
  auto& ns = by_namespace_[p.namespace_()];
  if (!compiled->target_refs.empty()) {
    ns.targeted.push_back(id);
  } else if (p.namespace_() == root_namespace_) {
    (compiled->selector.empty() ? global_ : root_selector_).push_back(id);
  } else {
    (compiled->selector.empty() ? ns.namespace_wide : ns.selector).push_back(id);
  }
  policies_.push_back(std::move(*compiled));
  return Status::ok();
}

Status CompiledPolicySet::addPeerAuthentication(const v1::PeerAuthentication& p) {
  PeerAuthn pa;
  pa.full_name = fmt::format("{}/{}", p.namespace_(), p.name());
  pa.selector.assign(p.selector().begin(), p.selector().end());
  pa.mode = p.mode();
  for (const auto& [port, mode] : p.port_level_mtls()) {
    if (port == 0 || port > 65535) {
      return makeError("PeerAuthentication {}: portLevelMtls: invalid port {}", pa.full_name, port);
    }
    pa.port_modes.emplace_back(port, mode);
  }
  const auto id = static_cast<uint32_t>(peer_authns_.size());
  auto& ns = peer_authn_by_namespace_[p.namespace_()];
  if (p.mesh_wide() || (p.namespace_() == root_namespace_ && pa.selector.empty())) {
    if (!mesh_peer_authn_) mesh_peer_authn_ = id;
  } else if (pa.selector.empty()) {
    if (!ns.namespace_wide) ns.namespace_wide = id;
  } else {
    ns.selector.push_back(id);
  }
  peer_authns_.push_back(std::move(pa));
  return Status::ok();
}

Result<std::shared_ptr<const CompiledPolicySet>> compile(
    const std::vector<v1::AuthorizationPolicy>& authorization_policies,
    const std::vector<v1::PeerAuthentication>& peer_authentications, std::string root_namespace) {
  auto set = std::make_shared<CompiledPolicySet>();
  set->root_namespace_ = std::move(root_namespace);
  for (const AuthzPolicy* p : sortedByName(authorization_policies)) {
    AMBIT_TRY(set->addAuthorizationPolicy(*p));
  }
  for (const v1::PeerAuthentication* p : sortedByName(peer_authentications)) {
    AMBIT_TRY(set->addPeerAuthentication(*p));
  }
  return std::shared_ptr<const CompiledPolicySet>(std::move(set));
}

}  // namespace ambit::rbac
