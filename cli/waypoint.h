#pragma once
// `ambitctl waypoint`: the waypoint Gateway istioctl's `waypoint generate` writes (class
// istio-waypoint, listener "mesh" on 15008 protocol HBONE, label istio.io/waypoint-for), and
// its life in local mode, where the mesh is the lab's config directory: apply writes
// <config dir>/waypoint-<namespace>-<name>.yaml (the daemons hot-reload it), delete removes that
// file, list/status read every Gateway of a waypoint class in the directory. Kubernetes mode
// (the API server) is in waypoint_command.cc over the lab's KubeApi.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::cli {

inline constexpr const char* kWaypointForLabel = "istio.io/waypoint-for";
inline constexpr const char* kUseWaypointLabel = "istio.io/use-waypoint";

struct WaypointSpec {
  std::string name = "waypoint";
  std::string namespace_name = "default";
  std::string traffic_type = "service";  // --for: service|workload|all|none
};

// Names must be DNS-1123 labels, --for one of the four; the error names the flag and value.
Status validateWaypointSpec(const WaypointSpec& spec);

nlohmann::json gatewayObject(const WaypointSpec& spec);
std::string gatewayYaml(const WaypointSpec& spec);

// A waypoint Gateway as found in the config directory or the API server.
struct WaypointInfo {
  std::string namespace_name, name, traffic_type, gateway_class;
  std::string file;                                  // local mode: where it is declared
  nlohmann::json status = nlohmann::json::object();  // Kubernetes mode: .status
};

// Waypoint fields of a Gateway object (JSON); false when it is not one (other class or kind).
bool waypointFromObject(const nlohmann::json& object, WaypointInfo& out);

// Every waypoint Gateway declared under `dir` (the files the daemons read), in file order;
// `namespace_name` empty: all namespaces. Files that do not parse are skipped (`config
// validate` reports them).
std::vector<WaypointInfo> listLocalWaypoints(const std::filesystem::path& dir,
                                             const std::string& namespace_name);

std::filesystem::path localWaypointFile(const std::filesystem::path& dir, const WaypointSpec& spec);

// Writes the Gateway's file (replacing an earlier apply). An error when the same Gateway is
// declared in another file, which ambitctl did not write.
Status applyLocalWaypoint(const std::filesystem::path& dir, const WaypointSpec& spec);
// Removes the file apply wrote; an error when there is none (naming the file that declares
// the Gateway, if another one does).
Status deleteLocalWaypoint(const std::filesystem::path& dir, const WaypointSpec& spec);
// Labels Namespace `spec.namespace_name` istio.io/use-waypoint=<name> in the file that declares
// it (rewritten as YAML; comments in that file are not kept).
Status enrollLocalNamespace(const std::filesystem::path& dir, const WaypointSpec& spec);

}  // namespace ambit::cli
