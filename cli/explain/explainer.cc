// The chain of one explanation: who the client is and whether the mesh captures it, which
// destination the address names, and where its ztunnel sends the connection (ztunnel's
// MeshState::resolveOutbound); then the waypoint's part or the destination ztunnels' part.
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cstdlib>

#include "cli/explain/explain_context.h"
#include "common/config/endpoints.h"
#include "common/config/validators.h"

namespace ambit::cli::explain {

namespace {

constexpr const char* kDataplaneMode = "istio.io/dataplane-mode";

std::optional<boost::asio::ip::address> parseIp(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

std::string labelOf(const google::protobuf::Map<std::string, std::string>& l, const char* k) {
  auto it = l.find(k);
  return it == l.end() ? "" : it->second;
}

const v1::Namespace* namespaceOf(const Context& ctx, const std::string& name) {
  for (const auto& n : ctx.snapshot->namespaces()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

Status resolveClient(Context& ctx) {
  const std::string& from = ctx.request.from;
  if (auto ip = parseIp(from)) {
    ctx.client_ip = ip->to_string();
    ctx.client = ctx.ztunnel.state->workloadByIp(*ip);
    return Status::ok();
  }
  const size_t slash = from.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == from.size())
    return makeError("--from '{}': expected <namespace>/<pod> or a pod IP", from);
  const std::string ns = from.substr(0, slash), name = from.substr(slash + 1);
  for (const auto& w : ctx.snapshot->workloads()) {
    if (w.namespace_() == ns && w.name() == name) ctx.client = &w;
  }
  if (ctx.client == nullptr)
    return makeError("--from '{}': no Pod {}/{} in the configuration", from, ns, name);
  if (ctx.client->addresses().empty())
    return makeError("--from '{}': the Pod has no IP (status.podIP)", from);
  ctx.client_ip = ctx.client->addresses(0);
  return Status::ok();
}

void explainCapture(Context& ctx) {
  if (ctx.client == nullptr) {
    ctx.step("source", fmt::format("{}: not a pod of the mesh: connects directly, in plaintext",
                                   ctx.client_ip));
    return;
  }
  const v1::Workload& w = *ctx.client;
  const std::string pod_mode = labelOf(w.labels(), kDataplaneMode);
  const v1::Namespace* ns = namespaceOf(ctx, w.namespace_());
  std::string why;
  SourceLocation at;
  if (!pod_mode.empty()) {
    why = fmt::format("pod label {}={}", kDataplaneMode, pod_mode);
    at = ctx.locate("Pod", w.namespace_(), w.name());
  } else if (ns != nullptr) {
    why = ns->ambient()
              ? fmt::format("namespace {} has {}=ambient", ns->name(), kDataplaneMode)
              : fmt::format("namespace {} is not labelled {}=ambient", ns->name(), kDataplaneMode);
    at = ctx.locate("Namespace", "", ns->name());
  } else {
    why = fmt::format("no Namespace {} in the configuration", w.namespace_());
  }
  ctx.captured = w.enrolled();
  std::vector<std::string> details{"why: " + why};
  if (ctx.captured) {
    ctx.client_principal = ztunnel::MeshState::spiffeId(w);
    details.push_back("identity " + ctx.client_principal);
    details.push_back(
        fmt::format("its connections go to the ztunnel on node {} (eBPF capture, "
                    "port 15001 in the pod's netns)",
                    w.node()));
  } else {
    details.push_back("not captured: connects directly, in plaintext, with no identity");
  }
  ctx.step("source",
           fmt::format("{}/{} {} on node {}: {}", w.namespace_(), w.name(), ctx.client_ip, w.node(),
                       ctx.captured ? "captured by the mesh" : "NOT captured"),
           std::move(details), at);
}

Result<uint16_t> portFor(const v1::Service& svc, std::optional<uint16_t> port) {
  if (port) {
    for (const auto& p : svc.ports()) {
      if (p.port() == *port) return *port;
    }
    return makeError("--to: Service {}/{} has no port {}", svc.namespace_(), svc.name(), *port);
  }
  if (svc.ports_size() == 1) return static_cast<uint16_t>(svc.ports(0).port());
  std::vector<uint32_t> ports;
  for (const auto& p : svc.ports()) ports.push_back(p.port());
  return makeError("--to: Service {}/{} has ports {}: add :PORT", svc.namespace_(), svc.name(),
                   fmt::join(ports, ", "));
}

Status resolveDestination(Context& ctx) {
  std::string to = ctx.request.to;
  std::optional<uint16_t> port;
  std::string host = to;
  const size_t colon = to.rfind(':');
  const bool bracketed = !to.empty() && to.front() == '[';
  if (colon != std::string::npos && (bracketed || to.find(':') == colon)) {
    const std::string p = to.substr(colon + 1);
    char* end = nullptr;
    const unsigned long n = std::strtoul(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || n == 0 || n > 65535)
      return makeError("--to '{}': invalid port '{}'", to, p);
    port = static_cast<uint16_t>(n);
    host = to.substr(0, colon);
  }
  if (bracketed) host = host.substr(1, host.size() > 2 ? host.size() - 2 : 0);
  ctx.authority = host;
  if (auto ip = parseIp(host)) {
    ctx.dialled_ip = ip->to_string();
    ctx.service = ctx.ztunnel.state->serviceByVip(*ip);
    if (ctx.service == nullptr) {
      ctx.workload = ctx.ztunnel.state->workloadByIp(*ip);
      if (ctx.workload == nullptr)
        return makeError(
            "--to '{}': {} is neither a Service VIP nor a pod IP in the "
            "configuration",
            to, host);
      if (!port) return makeError("--to '{}': a pod address needs a port (IP:PORT)", to);
      ctx.port = *port;
      return Status::ok();
    }
  } else {
    const size_t slash = host.find('/');
    const std::string client_ns = ctx.client ? ctx.client->namespace_() : "default";
    for (const auto& s : ctx.snapshot->services()) {
      const bool hit =
          slash != std::string::npos
              ? s.namespace_() + "/" + s.name() == host
              : s.hostname() ==
                    config::resolveHost(host, client_ns, ctx.source.options().cluster_domain);
      if (hit) ctx.service = &s;
    }
    if (ctx.service == nullptr)
      return makeError(
          "--to '{}': no Service {} in the configuration", to,
          slash == std::string::npos
              ? config::resolveHost(host, client_ns, ctx.source.options().cluster_domain)
              : host);
    if (ctx.service->vips().empty())
      return makeError("--to '{}': Service {} has no clusterIP", to, host);
    ctx.dialled_ip = ctx.service->vips(0);
    if (slash != std::string::npos)
      ctx.authority = ctx.service->hostname();  // as DNS would name it
  }
  auto p = portFor(*ctx.service, port);
  if (!p) return p.error();
  ctx.port = *p;
  return Status::ok();
}

void describeDestination(Context& ctx) {
  if (ctx.service == nullptr) {
    const v1::Workload& w = *ctx.workload;
    ctx.step("destination",
             fmt::format("pod {}/{} {}:{} (addressed directly, no Service)", w.namespace_(),
                         w.name(), ctx.dialled_ip, ctx.port),
             {}, ctx.locate("Pod", w.namespace_(), w.name()));
    return;
  }
  const v1::Service& s = *ctx.service;
  std::vector<std::string> details;
  for (const auto& uid : s.endpoints()) {
    const v1::Workload* w = ctx.ztunnel.state->workloadByUid(uid);
    if (w == nullptr || w->addresses().empty()) continue;
    std::vector<std::string> labels;
    for (const auto& [k, v] : w->labels()) labels.push_back(k + "=" + v);
    std::sort(labels.begin(), labels.end());
    details.push_back(fmt::format("endpoint {}/{} {} on node {} ({})", w->namespace_(), w->name(),
                                  w->addresses(0), w->node(), fmt::join(labels, ",")));
  }
  if (details.empty()) details.push_back("no endpoints: nothing selects this Service");
  ctx.step("destination",
           fmt::format("Service {}/{} ({}) VIP {}:{}", s.namespace_(), s.name(), s.hostname(),
                       ctx.dialled_ip, ctx.port),
           std::move(details), ctx.locate("Service", s.namespace_(), s.name()));
}

const v1::Waypoint* waypointByRef(const Context& ctx, const std::string& ref) {
  for (const auto& w : ctx.snapshot->waypoints()) {
    if (w.namespace_() + "/" + w.name() == ref) return &w;
  }
  return nullptr;
}

// Without a waypoint: the destination ztunnel of each endpoint decides (L4).
// `service_port`: the Service's entry for the dialled port (nullptr: a pod was dialled, or the
// Service does not declare the port), which says each endpoint's port.
void explainDirect(Context& ctx, const std::vector<const v1::Workload*>& endpoints,
                   const v1::ServicePort* service_port) {
  ExplainDestination dest;
  dest.service = ctx.service ? ctx.service->namespace_() + "/" + ctx.service->name() : "";
  std::vector<std::string> lines;
  for (const v1::Workload* w : endpoints) {
    const auto endpoint_port = config::endpointPort(service_port, *w, ctx.port);
    if (w->addresses().empty() || !endpoint_port) continue;
    const auto port = static_cast<uint16_t>(*endpoint_port);
    dest.endpoints.push_back(
        fmt::format("{}/{} {}:{}", w->namespace_(), w->name(), w->addresses(0), port));
    if (!w->enrolled()) {
      ++dest.allowed;
      lines.push_back(fmt::format("{}/{}: not in the mesh: plaintext, no policy applies",
                                  w->namespace_(), w->name()));
      continue;
    }
    const InboundVerdict v = explainInbound(ctx, *w, port, ctx.client_ip, ctx.client_principal);
    if (v.allowed) ++dest.allowed;
    if (!v.allowed && !v.policy.empty()) dest.policies.push_back(v.policy);
    lines.push_back(fmt::format(
        "{}/{} {}:{} (ztunnel on {}), {}: {}", w->namespace_(), w->name(), w->addresses(0), port,
        w->node(),
        ctx.client_principal.empty() ? "plaintext" : "HBONE from " + ctx.client_principal,
        v.allowed ? "ALLOW" : "DENY: " + v.reason));
    for (const auto& l : v.lines) lines.push_back("  " + l);
  }
  ctx.step("authz-l4", "L4 authorization at the destination ztunnel(s)", std::move(lines));
  ctx.out.destinations.push_back(std::move(dest));
  concludeFromDestinations(ctx, false);
}

const v1::ServicePort* servicePort(const v1::Service& s, uint16_t port) {
  for (const auto& p : s.ports()) {
    if (p.port() == port) return &p;
  }
  return nullptr;
}

void explainPath(Context& ctx) {
  std::vector<const v1::Workload*> endpoints;
  const v1::ServicePort* port = ctx.service ? servicePort(*ctx.service, ctx.port) : nullptr;
  if (ctx.service) {
    for (const auto& uid : ctx.service->endpoints()) {
      const auto* w = ctx.ztunnel.state->workloadByUid(uid);
      if (w != nullptr && config::servesPort(port, *w)) endpoints.push_back(w);
    }
    endpoints = config::preferReady(std::move(endpoints));  // as the ztunnel picks them
  } else {
    endpoints.push_back(ctx.workload);
  }
  if (!ctx.captured) {
    if (ctx.service && !ctx.service->waypoint().empty())
      ctx.step("waypoint", fmt::format("waypoint {} is bypassed: only captured clients are sent "
                                       "through it",
                                       ctx.service->waypoint()));
    explainDirect(ctx, endpoints, port);
    return;
  }
  auto ip = parseIp(ctx.dialled_ip);
  const auto targets = ctx.ztunnel.state->resolveOutbound({*ip, ctx.port}, 0);
  if (!targets.empty() && targets.front().kind == ztunnel::OutboundTarget::Kind::kWaypoint) {
    const v1::Waypoint* wp = waypointByRef(ctx, ctx.service->waypoint());
    const auto& t = targets.front();
    ctx.step(
        "waypoint",
        fmt::format("through waypoint {}: the ztunnel opens HBONE to {} (expects {})",
                    ctx.service->waypoint(),
                    t.connect_to.address().to_string() + ":" + std::to_string(t.connect_to.port()),
                    t.expected_identities.empty() ? "-" : t.expected_identities.front()),
        {ctx.service->labels().count("istio.io/use-waypoint")
             ? fmt::format("bound by label istio.io/use-waypoint on Service {}/{}",
                           ctx.service->namespace_(), ctx.service->name())
             : fmt::format("bound by label istio.io/use-waypoint on Namespace {}",
                           ctx.service->namespace_())},
        wp ? ctx.locate("Gateway", wp->namespace_(), wp->name()) : SourceLocation{});
    if (wp != nullptr && ctx.service != nullptr) explainWaypoint(ctx, *wp);
    return;
  }
  if (ctx.service && !ctx.service->waypoint().empty()) {
    ctx.step("waypoint", fmt::format("Service is bound to waypoint {}, but it has no address: "
                                     "the ztunnel goes straight to the endpoints",
                                     ctx.service->waypoint()));
  } else {
    ctx.step("waypoint",
             "no waypoint: the ztunnel tunnels (HBONE) straight to an endpoint's "
             "ztunnel; only L4 policy applies");
  }
  explainDirect(ctx, endpoints, port);
}

}  // namespace

void Context::step(std::string stage, std::string summary, std::vector<std::string> details,
                   SourceLocation origin) {
  out.steps.push_back(
      ExplainStep{std::move(stage), std::move(summary), std::move(details), std::move(origin)});
}

}  // namespace ambit::cli::explain

namespace ambit::cli {

std::string_view verdictName(Explanation::Verdict v) {
  switch (v) {
    case Explanation::Verdict::kAllow:
      return "ALLOW";
    case Explanation::Verdict::kDeny:
      return "DENY";
    case Explanation::Verdict::kPartial:
      return "PARTIAL";
  }
  return "?";
}

Result<Explanation> explainRequest(const MeshSource& source, const ExplainRequest& request) {
  auto snapshot = std::make_shared<const v1::MeshSnapshot>(source.snapshot());
  auto zt = ztunnel::prepareConfig(snapshot);
  if (!zt) return zt.error().context("ztunnel configuration");
  auto index = waypoint::MeshIndex::build(snapshot);
  if (!index) return index.error().context("waypoint configuration");
  explain::Context ctx{source, request, snapshot, std::move(*zt), std::move(*index), {}};
  AMBIT_TRY(explain::resolveClient(ctx));
  explain::explainCapture(ctx);
  AMBIT_TRY(explain::resolveDestination(ctx));
  explain::describeDestination(ctx);
  explain::explainPath(ctx);
  return std::move(ctx.out);
}

}  // namespace ambit::cli
