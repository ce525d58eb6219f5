#pragma once
// `ambitctl proxy-status`: every mesh daemon of the lab and whether it runs the configuration
// it should, in the shape of istioctl proxy-status. ambit has no istiod and no per-type xDS
// subscriptions, so the columns are the closest equivalents:
//
//   NAME     ztunnel-<node>, agent-<node>, <gateway>.<namespace> (waypoint), ambit-control[-i]
//   CLUSTER  "lab" (local mode) or "Kubernetes"
//   SOURCE   where the daemon gets its configuration (istioctl's ISTIOD column): the config
//            directory in local mode; in Kubernetes mode ambit-control for agents and
//            waypoints, the node's agent (its discovery relay) for a ztunnel, the API server
//            for ambit-control
//   VERSION  the ambit build (istio_build{tag})
//   CONFIG   the configuration version in force (ambit_config_info{version})
//   STATUS   SYNCED: the version it should have (local mode: the config directory's content
//            hash now; Kubernetes mode: a ztunnel its agent's, a waypoint the version most
//            agents run, an agent connected to ambit-control); STALE: another version;
//            NOT CONNECTED: its discovery stream is down (Kubernetes mode); SERVING / NOT READY for
//            ambit-control; UNREACHABLE: its metrics endpoint did not answer
//
// Everything comes from each daemon's /metrics (common/admin/health_metrics.h), which all four
// daemons serve.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/lab_targets.h"
#include "cli/table.h"

namespace ambit::cli {

// What proxy-status reads from one daemon's Prometheus text.
struct DaemonHealth {
  std::string build;                  // istio_build{tag}
  std::string config_version;         // ambit_config_info{version}; empty: no configuration yet
  std::optional<bool> xds_connected;  // ambit_xds_connected; nullopt: not reported
};

DaemonHealth parseHealth(std::string_view prometheus_text);

struct DaemonProbe {
  MeshDaemon daemon;
  std::optional<DaemonHealth> health;  // nullopt: unreachable
  std::string error;                   // why unreachable
  bool ready = true;                   // ambit-control: its /ready answered 200
};

// The rows; `expected_version` is the config directory's version in local mode (empty when it
// has problems, so no local daemon can be judged SYNCED).
nlohmann::json proxyStatusRows(const std::vector<DaemonProbe>& probes, bool kubernetes,
                               const std::string& expected_version);
Table proxyStatusTable(const nlohmann::json& rows);

}  // namespace ambit::cli
