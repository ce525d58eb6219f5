#pragma once
// Service endpoints on ambit-control's discovery stream.
//
// In the mesh model a Service lists its endpoints (workload uids) and each Workload lists its
// Services (Workload.services, the inverse join). A discovery server sends a Service without
// its endpoints to a client that says it rebuilds them (client feature "workload-services"):
// adding or removing a pod then changes one resource for that client, its Workload, instead of
// the Workload and every Service selecting it, which halves the responses and ACKs per pod
// event (Istio's workload API is shaped the same way). The client rebuilds the endpoints from
// the Workloads it holds (ServiceMembership), so what a ztunnel or a waypoint reads is the
// same snapshot as before. A client that does not say so (an older one) gets whole Services.
//
// A Service that still carries endpoints (from an older server) keeps them: the client's
// endpoints are the union of those and the Workloads that list the Service.

#include <google/protobuf/any.pb.h>

#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/mesh_resources.h"
#include "common/discovery/resource_store.h"

namespace ambit::discovery {

// The client feature (DeltaDiscoveryRequest.client_features) of a client that rebuilds
// Service endpoints from the Workloads.
inline constexpr std::string_view kWorkloadServicesFeature = "workload-services";

// The store upsert for `message` of `type` (packResource: deterministic bytes), with the lean
// form of a Service that has endpoints (the same Service without them) for the clients that
// said they rebuild them.
ResourceUpsert meshUpsert(config::MeshType type, std::string name,
                          const google::protobuf::Message& message);

// Client side: the Workloads listing each Service, by the Service's resource name.
class ServiceMembership {
 public:
  // A held Workload went from `before` to `after` (null: absent). Appends to `touched` the
  // names of the Services whose members changed.
  void workloadChanged(const v1::Workload* before, const v1::Workload* after,
                       std::vector<std::string>& touched);
  // Sets `service`'s endpoints to the union of those it carries and the uids of the Workloads
  // listing it, sorted; a Service no Workload lists keeps its own, in their order.
  void fill(v1::Service& service) const;
  // Whether `service` lists exactly the Workloads that name it: the snapshot a client
  // persisted can then resume in the lean form (its version matches the server's).
  bool matches(const v1::Service& service) const;

 private:
  std::unordered_map<std::string, std::set<std::string>> members_;  // service -> uids
};

}  // namespace ambit::discovery
