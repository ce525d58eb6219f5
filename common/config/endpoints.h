#pragma once
// How a data plane (ztunnel, waypoint, `ambitctl explain`) reads a Service's endpoints from a
// snapshot: which of them to use and on which port, the way kube-proxy and Istio's ztunnel do.
//
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <vector>

#include "ambit/v1/workload.pb.h"

namespace ambit::config {

// The port to dial on endpoint `w` for a connection to Service port `port` (nullptr: the Service
// declares no such port, the dialled one is used): a numeric targetPort as is, a named one from
// the pod's container ports. nullopt when the pod has no container port of that name (Kubernetes
// leaves such a pod out of the Service's endpoints).
std::optional<uint32_t> endpointPort(const v1::ServicePort* port, const v1::Workload& w,
                                     uint32_t dialled);

// Whether `w` is an endpoint of Service port `port` at all (false: a named targetPort it does not
// declare). Filter with this before preferReady().
inline bool servesPort(const v1::ServicePort* port, const v1::Workload& w) {
  return endpointPort(port, w, 0).has_value();
}

// The candidates to use, in their order: the ready ones if there is any, else all of them (pods
// that are terminating or failing readiness still beat no endpoint at all, as kube-proxy's
// terminating-endpoint fallback does).
std::vector<const v1::Workload*> preferReady(std::vector<const v1::Workload*> candidates);

}  // namespace ambit::config
