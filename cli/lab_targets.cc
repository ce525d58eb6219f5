#include "cli/lab_targets.h"

#include <cstdlib>

#include "cli/lab/kube_lab.h"
#include "cli/lab/lab.h"
#include "cli/lab/state.h"

namespace ambit::cli {

namespace {

constexpr uint16_t kZtunnelAdminPort = 15000;
constexpr uint16_t kMetricsPort = 15020;  // ztunnel and waypoint
constexpr uint16_t kAgentPort = 15030;    // agent /metrics (and local mode's dumps)
constexpr const char* kGatewayNameLabel = "gateway.networking.k8s.io/gateway-name";

AdminEndpoint local(const std::string& netns, uint16_t port) {
  return AdminEndpoint{.host = "127.0.0.1", .port = port, .netns = netns};
}

}  // namespace

Result<MeshDaemon> LabTargets::ztunnel(const std::string& node) const {
  for (const auto& d : daemons) {
    if (d.kind == "ztunnel" && d.node == node) return d;
  }
  std::string names;
  for (const auto& n : nodes) names += (names.empty() ? "" : ", ") + n;
  return makeError("--node '{}': lab '{}' has no such node (nodes: {})", node, lab, names);
}

Result<LabTargets> labTargets(const std::string& name) {
  lab::LabOptions options;
  options.name = name;
  auto topology = lab::openLab(options);
  AMBIT_TRY(topology);
  auto state = lab::loadState(topology->state_file);
  AMBIT_TRY(state);
  LabTargets t{.lab = topology->options.name,
               .kubernetes = topology->options.kubernetes,
               .config_dir = topology->options.config_dir,
               .kubeconfig = topology->options.kubeconfig};
  for (const auto& n : topology->nodes) {
    t.nodes.push_back(n.name);
    // Kubernetes mode moves the agent's dumps to the admin port + 1 (agent/main.cc).
    uint16_t agent_dump = t.kubernetes ? kAgentPort + 1 : kAgentPort;
    t.daemons.push_back(MeshDaemon{.name = "agent-" + n.name,
                                   .kind = "agent",
                                   .node = n.name,
                                   .dump = local(n.netns, agent_dump),
                                   .health = local(n.netns, kAgentPort)});
    t.daemons.push_back(MeshDaemon{.name = "ztunnel-" + n.name,
                                   .kind = "ztunnel",
                                   .node = n.name,
                                   .dump = local(n.netns, kZtunnelAdminPort),
                                   .health = local(n.netns, kMetricsPort)});
  }
  for (const auto& p : topology->pods) {
    auto gw = p.labels.find(kGatewayNameLabel);
    if (gw == p.labels.end()) continue;
    t.daemons.push_back(MeshDaemon{.name = gw->second + "." + p.namespace_name,
                                   .kind = "waypoint",
                                   .node = p.node,
                                   .dump = {},
                                   .health = local(p.netns, kMetricsPort)});
  }
  if (t.kubernetes) {
    // Replica 0 is the process "cluster/control", replica i "cluster/control-<i>".
    for (const auto& r : state->processes) {
      if (r.kind != "daemon" || r.name.rfind("cluster/control", 0) != 0) continue;
      std::string suffix = r.name.substr(std::string("cluster/control").size());
      int replica = suffix.empty() ? 0 : std::atoi(suffix.c_str() + 1);
      if (!suffix.empty() && (suffix[0] != '-' || replica <= 0)) continue;
      t.daemons.push_back(MeshDaemon{
          .name = replica == 0 ? "ambit-control" : fmt::format("ambit-control-{}", replica),
          .kind = "control",
          .node = "",
          .dump = {},
          .health = AdminEndpoint{.host = lab::controlReplicaIp(replica),
                                  .port = static_cast<uint16_t>(lab::kControlMonitoringPort),
                                  .netns = topology->underlay_netns}});
    }
  }
  return t;
}

}  // namespace ambit::cli
