#pragma once
// Where ambitctl's inspection commands find the daemons of a lab that is up: read from the
// lab's state file (cli/lab/state.h) and topology, never changing them. Every endpoint is
// inside a lab network namespace (node, pod or underlay), so reaching it needs root.

#include <string>
#include <vector>

#include "cli/admin_client.h"
#include "common/status.h"

namespace ambit::cli {

struct MeshDaemon {
  std::string name;      // "ztunnel-node1", "agent-node1", "waypoint.default", "ambit-control"
  std::string kind;      // "ztunnel", "agent", "waypoint", "control"
  std::string node;      // empty for ambit-control
  AdminEndpoint dump;    // /config_dump (port 0: the daemon has none)
  AdminEndpoint health;  // /metrics
};

struct LabTargets {
  std::string lab;
  bool kubernetes = false;
  std::string config_dir;  // local mode: the YAML every daemon reads
  std::string kubeconfig;  // Kubernetes mode: the cluster-admin kubeconfig of `lab up`
  std::vector<std::string> nodes;
  std::vector<MeshDaemon> daemons;  // per node agent then ztunnel, then waypoints, control

  // The ztunnel of `node`; an error lists the nodes.
  Result<MeshDaemon> ztunnel(const std::string& node) const;
};

// The lab `name` (default "ambit"); an error says no such lab is up and how to start one.
Result<LabTargets> labTargets(const std::string& name);

}  // namespace ambit::cli
