// Where the request ends: each destination (weighted subset) of the matched route, its endpoints,
// and the destination ztunnel's verdict for each; then the overall verdict.
#include <fmt/format.h>

#include "cli/explain/explain_context.h"
#include "common/config/endpoints.h"
#include "waypoint/router.h"

namespace ambit::cli::explain {
namespace {

const v1::ServicePort* servicePort(const v1::Service& svc, uint32_t port) {
  for (const auto& p : svc.ports()) {
    if (p.port() == port) return &p;
  }
  return nullptr;
}

std::string waypointPrincipal(const Context& ctx, const v1::Waypoint& wp) {
  const std::string td =
      ctx.snapshot->trust_domain().empty() ? "cluster.local" : ctx.snapshot->trust_domain();
  return fmt::format("spiffe://{}/ns/{}/sa/{}", td, wp.namespace_(),
                     wp.service_account().empty() ? wp.name() : wp.service_account());
}

}  // namespace

void concludeFromDestinations(Context& ctx, bool via_waypoint) {
  size_t total = 0, allowed = 0;
  for (const auto& d : ctx.out.destinations) {
    if (d.weight == 0 && ctx.out.destinations.size() > 1) continue;  // never picked
    total += d.endpoints.size();
    allowed += d.allowed;
  }
  if (total > 0 && allowed == total) {
    ctx.out.verdict = Explanation::Verdict::kAllow;
    ctx.out.status = 200;
    ctx.out.reason = "reaches the app";
    return;
  }
  ctx.out.verdict = allowed == 0 ? Explanation::Verdict::kDeny : Explanation::Verdict::kPartial;
  ctx.out.status = via_waypoint ? 503 : 0;
  if (total == 0) {
    ctx.out.reason = "no endpoint to send it to";
    return;
  }
  std::string policies;
  for (const auto& d : ctx.out.destinations) {
    for (const auto& p : d.policies) policies += (policies.empty() ? "" : ", ") + p;
  }
  ctx.out.reason = fmt::format("{} of {} endpoints refuse the connection{}", total - allowed, total,
                               policies.empty() ? "" : " (" + policies + ")");
  if (ctx.out.decided_by.empty() && !ctx.out.destinations.empty()) {
    for (const auto& d : ctx.out.destinations) {
      if (!d.policies.empty()) {
        ctx.out.decided_by = d.policies.front();
        const ObjectRef ref = parseObject(d.policies.front());
        ctx.out.decided_at = ctx.locate(ref.kind, ref.ns, ref.name);
        break;
      }
    }
  }
}

void explainDestinations(Context& ctx, const v1::Waypoint& wp, const v1::HttpRoute* route,
                         const v1::Service& fallback) {
  std::vector<v1::RouteDestination> dests;
  if (route != nullptr) {
    dests.assign(route->destinations().begin(), route->destinations().end());
  } else {
    dests.emplace_back();
  }
  const std::string wp_principal = waypointPrincipal(ctx, wp);
  const std::string wp_ip = wp.addresses().empty() ? "" : wp.addresses(0);
  for (const auto& d : dests) {
    ExplainDestination out;
    out.subset = d.subset();
    out.weight = d.weight();
    const v1::Service* svc = d.host().empty() ? &fallback : ctx.index->serviceByHost(d.host());
    if (svc == nullptr) {
      out.service = d.host();
      ctx.step("destination", fmt::format("{}: not a known service (503)", d.host()));
      ctx.out.destinations.push_back(std::move(out));
      continue;
    }
    out.service = svc->namespace_() + "/" + svc->name();
    const uint32_t dialled = d.port() ? d.port() : ctx.port;
    const v1::ServicePort* service_port = servicePort(*svc, dialled);
    auto endpoints = waypoint::subsetEndpoints(*ctx.index, *svc, d.subset(), service_port);
    const std::string title =
        fmt::format("{}{}{}", out.service, d.subset().empty() ? "" : " subset " + d.subset(),
                    d.weight() ? fmt::format(" weight {}", d.weight()) : "");
    if (!endpoints) {
      ctx.step("destination", title + ": subset not defined by a DestinationRule (503)");
      ctx.out.destinations.push_back(std::move(out));
      continue;
    }
    std::vector<std::string> lines;
    for (const v1::Workload* w : *endpoints) {
      const auto port = static_cast<uint16_t>(*config::endpointPort(service_port, *w, dialled));
      const InboundVerdict v = explainInbound(ctx, *w, port, wp_ip, wp_principal);
      out.endpoints.push_back(
          fmt::format("{}/{} {}:{}", w->namespace_(), w->name(), w->addresses(0), port));
      if (v.allowed) ++out.allowed;
      if (!v.allowed && !v.policy.empty()) out.policies.push_back(v.policy);
      lines.push_back(fmt::format(
          "{}/{} {}:{} (ztunnel on node {}): {}", w->namespace_(), w->name(), w->addresses(0), port,
          w->node().empty() ? "?" : w->node(), v.allowed ? "ALLOW" : "DENY: " + v.reason));
      for (const auto& l : v.lines) lines.push_back("  " + l);
    }
    if (endpoints->empty())
      lines.push_back("no endpoint: the waypoint answers 503 (no healthy upstream)");
    ctx.step("destination",
             fmt::format("{}: {} endpoint(s), from the waypoint as {}", title, endpoints->size(),
                         wp_principal),
             std::move(lines));
    ctx.out.destinations.push_back(std::move(out));
  }
  concludeFromDestinations(ctx, true);
}

}  // namespace ambit::cli::explain
