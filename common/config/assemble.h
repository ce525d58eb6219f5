#pragma once
// Internal to ambit_config: cross-resource checks and assembly of the final snapshot.

#include <functional>
#include <set>
#include <string>

#include "common/config/loader.h"
#include "common/config/model.h"

namespace ambit::config {

using Labels = google::protobuf::Map<std::string, std::string>;
// The traffic type ("service", "workload", "all", "none") of waypoint "<ns>/<name>";
// "service" when there is no such waypoint.
using TrafficTypeOf = std::function<std::string(const std::string& waypoint_ref)>;

inline constexpr const char* kGatewayName = "gateway.networking.k8s.io/gateway-name";

// The join rules, shared by assemble() and MeshModel.
// The value of label `key`, "" when absent.
std::string labelOf(const Labels& labels, const std::string& key);
// True when `selector` is not empty and `labels` carry every pair of it.
bool selects(const Labels& selector, const Labels& labels);
// Sets enrolled and waypoint of `w` from its labels and its namespace (null when absent).
void bindWorkload(v1::Workload& w, const v1::Namespace* ns, const TrafficTypeOf& traffic_type);
// Sets the waypoint of `s` from its labels and its namespace (null when absent).
void bindServiceWaypoint(v1::Service& s, const v1::Namespace* ns,
                         const TrafficTypeOf& traffic_type);

// Checks that span resources: subsets referenced by routes exist in a DestinationRule for the
// same host; no pod IP is claimed by two pods.
void crossCheck(const PartialModel& model, ConfigErrors& errors);

// Builds the snapshot from items whose file is not in `bad_files`, deriving enrollment,
// waypoint binding and service endpoints. `version` is left to the caller.
v1::MeshSnapshot assemble(const PartialModel& model, const std::set<std::string>& bad_files,
                          const LoaderOptions& options);

}  // namespace ambit::config
