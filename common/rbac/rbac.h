#pragma once
// ambit_rbac: Istio AuthorizationPolicy and PeerAuthentication evaluation for the ztunnel (L4)
// and the waypoint (L7).
//
// Lifecycle: compile() turns the translated policy model (proto/ambit/v1/policy.proto) into an
// immutable CompiledPolicySet, once per configuration change, off the data threads. Callers
// publish it as shared_ptr<const CompiledPolicySet> and swap it atomically; a data thread
// takes its own reference per connection (or per request) and calls evaluate(), which is
// const, thread-safe, and allocates nothing.
//
// Which policies apply to a Target (see attributes.h):
//   workload target: GLOBAL (root namespace, no selector) + NAMESPACE (target's namespace, no
//     selector) + WORKLOAD_SELECTOR whose labels are all present in the target's labels, from
//     the target's namespace or from the root namespace (a root-namespace selector applies in
//     every namespace, as in Istio). Policies with targetRefs never apply to workloads.
//   waypoint target: only policies with targetRefs naming the target (Service/ServiceEntry or
//     Gateway in the target's namespace, GatewayClass from the root namespace).
//   The proto's `scope` field is informational; applicability is derived from namespace,
//   selector and target_refs, so a mis-set scope cannot widen a policy.
//
// Decision order (Istio): CUSTOM policies are not supported — they are skipped and reported
// (Decision::custom_ignored, CompiledPolicySet::warnings()). Any matching DENY → deny. Else, if
// any ALLOW policy applies → allow only if one matches. Else → allow. AUDIT policies never
// change the decision; the first matching one is reported. An ALLOW policy with no rules
// matches nothing ("allow-nothing"); a rule with no from/to/when matches everything.
// Within a rule: from entries OR, fields within an entry AND; same for to; when conditions AND,
// values within a condition OR; a not-form must match none of its values. A list attribute
// (JWT list claim, audiences) matches when any element matches. Absent attributes (no
// principal, header or claim) match no positive value and satisfy every not-form.
// Principals are compared without "spiffe://" ("cluster.local/ns/foo/sa/bar", Istio's form).
//
// L4 mode (ztunnel), following Istio ztunnel: L7-only fields are requestPrincipals,
// remoteIpBlocks, hosts, methods, paths (and their not-forms) and the when keys request.*,
// remote.ip and connection.sni. They cannot be evaluated without HTTP, so
//   - ALLOW (and AUDIT): a rule using any of them never matches. An ALLOW policy whose rules
//     are all L7 therefore still "applies" and denies what no other ALLOW policy allows;
//   - DENY: the L7-only parts are ignored and the rule matches on its L4 parts alone, so the
//     ztunnel denies at least everything the waypoint would (conservative).
// In L7 mode every field is evaluated; remote.ip / remoteIpBlocks use the source IP (ambit
// does not trust X-Forwarded-For).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ambit/v1/policy.pb.h"
#include "common/rbac/attributes.h"
#include "common/rbac/compiled_policy.h"
#include "common/rbac/rule_trace.h"
#include "common/status.h"

namespace ambit::rbac {

struct Decision {
  enum class Reason : uint8_t {
    kNoPolicy,        // no ALLOW or DENY policy applies: allowed by default
    kAllowMatched,    // `policy` is the ALLOW policy that matched
    kDenyMatched,     // `policy` is the DENY policy that matched
    kNoAllowMatched,  // ALLOW policies apply and none matched
  };

  bool allowed = true;
  Reason reason = Reason::kNoPolicy;
  // "ns/name" of the deciding policy; empty for kNoPolicy / kNoAllowMatched. Views into the
  // CompiledPolicySet: valid while the caller holds it.
  std::string_view policy;
  std::string_view audit_policy;  // first matching AUDIT policy, empty if none
  bool custom_ignored = false;    // a CUSTOM policy applied and was not evaluated

  // A short fixed phrase for access logs, e.g. "denied by policy".
  std::string_view reasonText() const;
};

// explain(): one applicable policy, in evaluation order.
struct PolicyTrace {
  std::string_view policy;  // "ns/name", a view into the CompiledPolicySet
  v1::AuthorizationPolicy::Action action = v1::AuthorizationPolicy::ALLOW;
  bool matched = false;          // any rule matched (what evaluate() uses)
  std::vector<RuleTrace> rules;  // one per rule, in the policy's order
};

// explain(): evaluate()'s decision with every rule of every applicable policy evaluated.
struct Explanation {
  Decision decision;  // always equal to evaluate() for the same input
  std::vector<PolicyTrace> policies;
};

// Which PeerAuthentication decided the mTLS mode of a workload port.
struct MtlsDecision {
  v1::PeerAuthentication::Mode mode = v1::PeerAuthentication::PERMISSIVE;
  std::string_view policy;  // "ns/name"; empty when no policy set it (PERMISSIVE default)
  bool port_level = false;  // decided by a portLevelMtls entry
};

class CompiledPolicySet {
 public:
  Decision evaluate(const Target& target, const Attributes& attrs, Mode mode) const;
  // The same decision as evaluate(), plus a trace of every rule (for `ambitctl explain`, never
  // the data path: it allocates and does not stop at the first match).
  Explanation explain(const Target& target, const Attributes& attrs, Mode mode) const;

  // PeerAuthentication: the effective mode for the workload and port. Precedence: workload
  // selector policy (target's namespace) > namespace policy > mesh-wide (root namespace, no
  // selector). At each level a port-level entry for `port` wins over the policy's mode; UNSET
  // inherits from the next level; nothing set → PERMISSIVE. Several policies at one level:
  // the lowest "ns/name" wins (Istio picks the oldest; the model carries no timestamps).
  v1::PeerAuthentication::Mode effectiveMtls(const Target& target, uint32_t port) const;
  // effectiveMtls() with the PeerAuthentication that decided it.
  MtlsDecision mtlsDecision(const Target& target, uint32_t port) const;
  // False only for STRICT (PERMISSIVE and DISABLE accept plaintext).
  bool plaintextAllowed(const Target& target, uint32_t port) const;

  const std::string& rootNamespace() const { return root_namespace_; }
  size_t authorizationPolicyCount() const { return policies_.size(); }
  // Non-fatal findings, e.g. "AuthorizationPolicy ns/x: action CUSTOM is not supported".
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  friend Result<std::shared_ptr<const CompiledPolicySet>> compile(
      const std::vector<v1::AuthorizationPolicy>&, const std::vector<v1::PeerAuthentication>&,
      std::string);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  struct NamespaceAuthz {
    std::vector<uint32_t> namespace_wide;
    std::vector<uint32_t> selector;
    std::vector<uint32_t> targeted;  // with targetRefs
  };
  struct PeerAuthn {
    std::string full_name;
    std::vector<std::pair<std::string, std::string>> selector;
    v1::PeerAuthentication::Mode mode = v1::PeerAuthentication::UNSET;
    std::vector<std::pair<uint32_t, v1::PeerAuthentication::Mode>> port_modes;
  };
  struct NamespacePeerAuthn {
    std::optional<uint32_t> namespace_wide;
    std::vector<uint32_t> selector;
  };

  [[nodiscard]] Status addAuthorizationPolicy(const v1::AuthorizationPolicy& p);
  [[nodiscard]] Status addPeerAuthentication(const v1::PeerAuthentication& p);
  template <typename Fn>
  void forEachApplicable(const Target& target, Fn&& fn) const;
  bool targetRefMatches(const detail::CompiledPolicy& p, const Target& target) const;
  const PeerAuthn* workloadPeerAuthn(const Target& target) const;
  const PeerAuthn* namespacePeerAuthn(std::string_view ns) const;

  std::string root_namespace_;
  std::vector<detail::CompiledPolicy> policies_;  // sorted by "ns/name"
  std::vector<uint32_t> global_;                  // root namespace, no selector
  std::vector<uint32_t> root_selector_;           // root namespace, selector: all namespaces
  StringMap<NamespaceAuthz> by_namespace_;
  std::vector<PeerAuthn> peer_authns_;  // sorted by "ns/name"
  std::optional<uint32_t> mesh_peer_authn_;
  StringMap<NamespacePeerAuthn> peer_authn_by_namespace_;
  std::vector<std::string> warnings_;
};

// Compiles a full policy set. Fails on the first invalid policy, naming it and the field
// ("AuthorizationPolicy foo/bar: rules[0].from[0].source.ipBlocks[1]: invalid CIDR ...");
// callers keep their previous set in force.
[[nodiscard]] Result<std::shared_ptr<const CompiledPolicySet>> compile(
    const std::vector<v1::AuthorizationPolicy>& authorization_policies,
    const std::vector<v1::PeerAuthentication>& peer_authentications, std::string root_namespace);

}  // namespace ambit::rbac
