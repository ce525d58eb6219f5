// `ambitctl ztunnel-config workloads|services|policies|certificates|connections|all`: a
// ztunnel's view of the mesh, as istioctl ztunnel-config shows it (views in ztunnel_views.h),
// read from its admin /config_dump.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/lab_targets.h"
#include "cli/ztunnel_views.h"

namespace ambit::cli {
namespace {

struct ZtunnelConfigOptions {
  std::string lab = "ambit";
  std::string node;
  std::string address;
  std::string netns;
  std::string output = "short";
  ZtunnelFilter filter;
};

[[noreturn]] void fail(const std::string& view, const Error& e) {
  std::fflush(stdout);
  fmt::print(stderr, "ambitctl ztunnel-config {}: {}\n", view, e.message);
  std::exit(1);
}

// --address (with --netns) names any admin endpoint; otherwise the lab's ztunnel on --node
// (default: the first node).
Result<AdminEndpoint> target(const ZtunnelConfigOptions& o) {
  if (!o.address.empty()) {
    if (!o.node.empty()) return makeError("--node and --address name two targets; give one");
    auto e = parseAdminAddress(o.address);
    AMBIT_TRY(e);
    e->netns = o.netns;
    return e;
  }
  if (!o.netns.empty()) return makeError("--netns goes with --address");
  auto lab = labTargets(o.lab);
  AMBIT_TRY(lab);
  auto zt = lab->ztunnel(o.node.empty() ? lab->nodes.front() : o.node);
  AMBIT_TRY(zt);
  return zt->dump;
}

Result<std::string> run(const std::string& view, const ZtunnelConfigOptions& o) {
  auto format = parseOutputFormat(o.output);
  AMBIT_TRY(format);
  auto endpoint = target(o);
  AMBIT_TRY(endpoint);
  auto body = adminGetOk(*endpoint, "/config_dump");
  AMBIT_TRY(body);
  auto dump = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (dump.is_discarded() || !dump.is_object()) {
    return makeError("{}/config_dump did not answer a JSON object (is it a ztunnel?)",
                     endpoint->describe());
  }
  if (dump.contains("error")) {
    return makeError("{}/config_dump: {}", endpoint->describe(), dump["error"].dump());
  }
  auto now = std::chrono::system_clock::now();
  if (view == "all") return renderAll(dump, o.filter, *format, now);
  ZtunnelView v;
  if (view == "workloads") {
    v = workloadsView(dump, o.filter);
  } else if (view == "services") {
    v = servicesView(dump, o.filter);
  } else if (view == "policies") {
    v = policiesView(dump, o.filter);
  } else if (view == "connections") {
    v = connectionsView(dump, o.filter);
  } else {
    auto certs = certificatesView(dump, now);
    AMBIT_TRY(certs);
    v = std::move(*certs);
  }
  return renderOutput(*format, v.items, v.table);
}

void addView(CLI::App& parent, ZtunnelConfigOptions& o, const std::string& view,
             const std::string& help) {
  auto* cmd = parent.add_subcommand(view, help);
  cmd->add_option("--lab", o.lab, "the lab whose ztunnel to read")->capture_default_str();
  cmd->add_option("--node", o.node, "the lab node whose ztunnel to read (default: the first)");
  cmd->add_option("--address", o.address,
                  "any ztunnel admin endpoint host:port instead of the lab's (e.g. "
                  "127.0.0.1:15000)");
  cmd->add_option("--netns", o.netns, "with --address: the network namespace it listens in");
  cmd->add_option("-o,--output", o.output, "short|json|yaml")->capture_default_str();
  if (view != "certificates") {
    cmd->add_option("--namespace", o.filter.namespace_name, "only objects of this namespace");
  }
  if (view == "workloads" || view == "all") {
    cmd->add_option("--workload-node", o.filter.workload_node,
                    "only workloads scheduled on this node");
  }
  cmd->callback([&o, view] {
    auto out = run(view, o);
    if (!out) fail(view, out.error());
    std::cout << *out;
  });
}

}  // namespace

void addZtunnelConfigCommands(CLI::App& app) {
  static ZtunnelConfigOptions options;
  auto* zc = app.add_subcommand(
      "ztunnel-config",
      "a ztunnel's view of the mesh, read from its admin /config_dump (like istioctl "
      "ztunnel-config); by default the first node's ztunnel of the lab");
  requireKnownSubcommand(*zc);
  addView(*zc, options, "workloads",
          "workloads the ztunnel knows: NAMESPACE POD NAME ADDRESS NODE WAYPOINT PROTOCOL "
          "(PROTOCOL: HBONE for enrolled pods, TCP otherwise)");
  addView(*zc, options, "services",
          "services: NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS (ENDPOINTS: selected "
          "pods known as workloads / all selected)");
  addView(*zc, options, "policies", "authorization policies: NAMESPACE POLICY NAME ACTION SCOPE");
  addView(*zc, options, "certificates",
          "workload certificates held: CERTIFICATE NAME TYPE STATUS VALID CERT SERIAL NUMBER "
          "NOT AFTER NOT BEFORE");
  addView(*zc, options, "connections",
          "connections open now: WORKLOAD DIRECTION LOCAL REMOTE REMOTE TARGET PROTOCOL");
  addView(*zc, options, "all", "every view above");
}

}  // namespace ambit::cli
