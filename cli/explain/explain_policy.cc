// AuthorizationPolicy and PeerAuthentication in an explanation: rule traces with their source
// lines, and the destination ztunnel's inbound decision.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "cli/explain/explain_context.h"
#include "common/config/field_reader.h"
#include "ztunnel/inbound_policy.h"
#include "ztunnel/pod.h"

namespace ambit::cli::explain {
namespace {

using Clause = rbac::RuleTrace::Clause;
using Outcome = rbac::RuleTrace::Outcome;

std::string actionName(v1::AuthorizationPolicy::Action a) {
  return v1::AuthorizationPolicy::Action_Name(a);
}

// The rule as written, on one line (flow YAML), or "" when the source has no such node.
std::string ruleAsWritten(const Context& ctx, const ObjectRef& policy, size_t rule) {
  const config::Resource* r = ctx.source.find(policy.kind, policy.ns, policy.name);
  if (r == nullptr) return "";
  const YAML::Node rules = config::child(config::child(r->doc, "spec"), "rules");
  if (!rules.IsSequence() || rule >= rules.size()) return "";
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << rules[rule];
  return e.good() ? e.c_str() : "";
}

std::string outcomeText(const rbac::RuleTrace& t, const v1::AuthorizationPolicy* proto,
                        size_t rule) {
  switch (t.outcome) {
    case Outcome::kMatched:
      return "MATCH";
    case Outcome::kSkippedAtL4:
      return "no match (uses L7 fields: an ALLOW rule never matches in the ztunnel)";
    case Outcome::kNoMatch:
      break;
  }
  switch (t.failed) {
    case Clause::kFrom:
      return "no match (from: no source matched)";
    case Clause::kTo:
      return "no match (to: no operation matched)";
    case Clause::kWhen: {
      std::string key;
      if (proto && static_cast<int>(rule) < proto->rules_size() &&
          static_cast<int>(t.when_index) < proto->rules(static_cast<int>(rule)).when_size()) {
        key = proto->rules(static_cast<int>(rule)).when(static_cast<int>(t.when_index)).key();
      }
      return fmt::format("no match (when[{}] {} not satisfied)", t.when_index, key);
    }
    case Clause::kNone:
      break;
  }
  return "no match";
}

const v1::AuthorizationPolicy* findPolicy(const Context& ctx, std::string_view full_name) {
  for (const auto& p : ctx.snapshot->authorization_policies()) {
    if (p.namespace_() + "/" + p.name() == full_name) return &p;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> describePolicies(const Context& ctx, const rbac::Explanation& trace) {
  std::vector<std::string> lines;
  if (trace.policies.empty()) {
    lines.push_back("no AuthorizationPolicy applies");
    return lines;
  }
  for (const auto& p : trace.policies) {
    const ObjectRef ref = parseObject("AuthorizationPolicy " + std::string(p.policy));
    const SourceLocation at = ctx.locate(ref.kind, ref.ns, ref.name);
    lines.push_back(fmt::format("AuthorizationPolicy {} ({}){}: {}", p.policy, actionName(p.action),
                                at.known() ? " [" + at.toString() + "]" : std::string(),
                                p.matched ? "matches" : "does not match"));
    const v1::AuthorizationPolicy* proto = findPolicy(ctx, p.policy);
    if (p.rules.empty()) {
      lines.push_back(p.action == v1::AuthorizationPolicy::ALLOW ? "  no rules: allows nothing"
                                                                 : "  no rules: matches nothing");
    }
    for (size_t i = 0; i < p.rules.size(); ++i) {
      const SourceLocation rule_at =
          ctx.source.locateField(ref.kind, ref.ns, ref.name, {"spec", "rules", std::to_string(i)});
      const std::string written = ruleAsWritten(ctx, ref, i);
      lines.push_back(fmt::format(
          "  rules[{}]{}: {}{}", i, rule_at.line > 0 ? fmt::format(" (line {})", rule_at.line) : "",
          outcomeText(p.rules[i], proto, i), written.empty() ? "" : "  " + written));
    }
  }
  std::string decision = trace.decision.allowed ? "ALLOW" : "DENY";
  lines.push_back(
      fmt::format("=> {}: {}{}", decision, trace.decision.reasonText(),
                  trace.decision.policy.empty() ? "" : " " + std::string(trace.decision.policy)));
  return lines;
}

InboundVerdict explainInbound(const Context& ctx, const v1::Workload& dst, uint16_t port,
                              const std::string& source_ip, const std::string& principal) {
  InboundVerdict v;
  ztunnel::Pod pod;
  pod.info.set_uid(dst.uid());
  pod.info.set_namespace_(dst.namespace_());
  pod.info.set_name(dst.name());
  const rbac::Target target = ztunnel::policyTarget(pod, &ctx.ztunnel);
  if (principal.empty()) {
    const rbac::MtlsDecision mtls = ctx.ztunnel.policies->mtlsDecision(target, port);
    const std::string mode = v1::PeerAuthentication::Mode_Name(mtls.mode);
    const ObjectRef pa = parseObject("PeerAuthentication " + std::string(mtls.policy));
    const SourceLocation pa_at =
        mtls.policy.empty() ? SourceLocation{} : ctx.locate(pa.kind, pa.ns, pa.name);
    v.lines.push_back(
        fmt::format("plaintext connection: mTLS mode {} on port {} ({}{})", mode, port,
                    mtls.policy.empty() ? "no PeerAuthentication: default"
                                        : "PeerAuthentication " + std::string(mtls.policy),
                    pa_at.known() ? " [" + pa_at.toString() + "]" : std::string()));
    if (!ztunnel::plaintextAllowed(pod, port, &ctx.ztunnel)) {
      v.allowed = false;
      v.reason = fmt::format("plaintext refused: PeerAuthentication {} is STRICT", mtls.policy);
      v.policy = "PeerAuthentication " + std::string(mtls.policy);
      v.policy_at = pa_at;
      return v;
    }
  }
  rbac::Attributes attrs;
  attrs.source_ip = rbac::IpAddress::parse(source_ip).value_or(rbac::IpAddress{});
  attrs.destination_ip = rbac::IpAddress::parse(dst.addresses(0)).value_or(rbac::IpAddress{});
  attrs.destination_port = port;
  attrs.source_principal = principal;
  const rbac::Explanation trace = ctx.ztunnel.policies->explain(target, attrs, rbac::Mode::kL4);
  const rbac::Decision decision = ztunnel::authorizeInbound(pod, attrs, &ctx.ztunnel);
  for (auto& l : describePolicies(ctx, trace)) v.lines.push_back(std::move(l));
  v.allowed = decision.allowed;
  v.reason = std::string(decision.reasonText());
  const std::string_view deciding = decidingPolicy(trace);
  if (!deciding.empty()) {
    const ObjectRef ref = parseObject("AuthorizationPolicy " + std::string(deciding));
    v.policy = "AuthorizationPolicy " + std::string(deciding);
    v.policy_at = ctx.locate(ref.kind, ref.ns, ref.name);
    v.reason += " " + std::string(deciding);
  }
  return v;
}

std::string_view decidingPolicy(const rbac::Explanation& trace) {
  if (!trace.decision.policy.empty()) return trace.decision.policy;
  if (trace.decision.reason != rbac::Decision::Reason::kNoAllowMatched) return {};
  for (const auto& p : trace.policies) {
    if (p.action == v1::AuthorizationPolicy::ALLOW) return p.policy;
  }
  return {};
}

}  // namespace ambit::cli::explain
