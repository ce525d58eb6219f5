#pragma once
// Internal to ambit_config: MeshModel's stored objects, join indexes and output state.
// mesh_model.cc stores objects and keeps the indexes and cross-resource conditions current;
// mesh_model_joins.cc recomputes the final messages of what a change made dirty, and tracks the
// delta.

#include <google/protobuf/message.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/assemble.h"
#include "common/config/config_error.h"
#include "common/config/loader.h"
#include "common/config/mesh_model.h"
#include "common/config/mesh_resources.h"

namespace ambit::config {

// One stored object of a kind that maps to at most one mesh resource without joins.
template <typename T>
struct Stored {
  uint64_t seq = 0;      // order of first store: earlier wins IP clashes
  std::string object;    // "Pod default/web-1"
  std::optional<T> msg;  // nothing for a completed pod or a non-waypoint Gateway
};

struct PodEntry : Stored<v1::Workload> {
  std::vector<std::string> ips;  // claimed (not for hostNetwork pods)
  bool in_effect = false;        // has a workload and owns every IP it claims
  ConfigErrors pending;
};

struct RouteEntry : Stored<v1::RouteTable> {                     // a VirtualService or an HTTPRoute
  std::vector<std::pair<std::string, std::string>> subset_refs;  // (host, subset)
  bool in_effect = false;
  ConfigErrors pending;
};

struct ServiceEntry : Stored<v1::Service> {
  std::set<std::string> selected;  // uids of the in-effect pods its selector selects
};

struct SliceEntry : Stored<ServiceEndpoints> {
  std::string service_key;  // "<ns>/<service>"
};

struct MeshModel::State {
  explicit State(LoaderOptions o);

  LoaderOptions options;
  uint64_t next_seq = 1;
  uint64_t version = 0;

  // Stored objects. Keys: a Namespace by name, routes by object() ("VirtualService ns/n", as a
  // VirtualService and an HTTPRoute may share a name), every other kind "<ns>/<name>".
  std::unordered_map<std::string, Stored<v1::Namespace>> namespaces;
  std::unordered_map<std::string, PodEntry> pods;
  std::unordered_map<std::string, ServiceEntry> services;
  std::unordered_map<std::string, Stored<v1::Waypoint>> gateways;
  std::unordered_map<std::string, Stored<v1::AuthorizationPolicy>> authorization_policies;
  std::unordered_map<std::string, Stored<v1::PeerAuthentication>> peer_authentications;
  std::unordered_map<std::string, Stored<v1::RequestAuthentication>> request_authentications;
  std::unordered_map<std::string, Stored<v1::DestinationPolicy>> destination_rules;
  std::unordered_map<std::string, RouteEntry> routes;
  std::unordered_map<std::string, SliceEntry> slices;

  // Join indexes. A label key is "<ns>\0<label>\0<value>".
  std::unordered_map<std::string, std::map<uint64_t, std::string>> ip_claims;  // ip → seq → pod
  std::unordered_map<std::string, std::set<std::string>> workloads_by_label;   // in-effect pods
  std::unordered_map<std::string, std::set<std::string>> pods_by_ns;
  // Each service with a selector under its first selector label: a pod it selects carries it.
  std::unordered_map<std::string, std::set<std::string>> services_by_label;
  std::unordered_map<std::string, std::set<std::string>> services_by_ns;
  std::unordered_map<std::string, std::map<std::string, int>> slice_services_by_pod;
  std::unordered_map<std::string, std::set<std::string>> slices_by_service;
  std::unordered_map<std::string, std::map<std::string, int>> subsets_by_host;
  std::unordered_map<std::string, std::set<std::string>> routes_by_host;
  std::unordered_map<std::string, std::map<uint64_t, std::string>> routes_by_name;

  // What the next flush() recomputes.
  std::unordered_set<std::string> dirty_pods;
  std::unordered_set<std::string> dirty_services;
  std::unordered_set<std::string> dirty_waypoints;
  std::unordered_set<std::string> dirty_route_names;

  // The mesh as last flushed, and the names changed since the last takeDelta() (value: whether
  // the name existed at that takeDelta()).
  using Final = std::unordered_map<std::string, std::shared_ptr<const google::protobuf::Message>>;
  std::array<Final, kMeshTypes.size()> final;
  std::array<std::unordered_map<std::string, bool>, kMeshTypes.size()> changed;
  std::unordered_map<std::string, std::string> workload_names;  // pod key → published uid
  std::unordered_map<std::string, std::string> pod_of_uid;      // published uid → pod key
  // The inverse of the published services' endpoints: uid → service names (Workload.services).
  std::unordered_map<std::string, std::set<std::string>> services_of_uid;

  // mesh_model.cc: objects and indexes.
  void setNamespace(const std::string& name, std::optional<Stored<v1::Namespace>> in);
  void setPod(const std::string& key, std::optional<PodEntry> in);
  void setService(const std::string& key, std::optional<ServiceEntry> in);
  void setGateway(const std::string& key, std::optional<Stored<v1::Waypoint>> in);
  void setDestinationRule(const std::string& key, std::optional<Stored<v1::DestinationPolicy>> in);
  void setRoute(const std::string& key, std::optional<RouteEntry> in);
  void setSlice(const std::string& key, std::optional<SliceEntry> in);
  template <typename T>
  void setPlain(std::unordered_map<std::string, Stored<T>>& map, MeshType type,
                const std::string& key, std::optional<Stored<T>> in);

  // mesh_model_joins.cc: final messages and the delta.
  void flush();
  void setFinal(MeshType type, const std::string& name,
                std::shared_ptr<const google::protobuf::Message> msg);
  void recomputeWorkload(const std::string& pod_key);
  void recomputeService(const std::string& key);
  // Keeps services_of_uid current for service `key`'s endpoints going from `before` to `after`
  // (both sorted) and marks the pods whose Workload.services change dirty.
  void updateMembership(const std::string& key, const std::vector<std::string>& before,
                        const std::vector<std::string>& after);
  void recomputeWaypoint(const std::string& key);
  void recomputeRouteName(const std::string& name);
  std::string trafficType(const std::string& waypoint_ref) const;
  const v1::Namespace* namespaceMsg(const std::string& ns) const;  // null when absent
  void dirtyNamespaceMembers(const std::string& ns);

 private:
  void onPodEffect(const std::string& key, const v1::Workload* before, const v1::Workload* after);
  void updateClaimants(const std::string& key, const std::vector<std::string>& ips,
                       std::map<std::string, std::optional<v1::Workload>>& before);
  bool ownsClaims(const std::string& key, PodEntry& pod);
  // Uids of the in-effect pods of `ns` that `selector` selects.
  std::set<std::string> selectedBy(const std::string& ns, const Labels& selector) const;
  void recheckRoute(const std::string& key);
};

// "<ns>\0<label>\0<value>"
std::string labelKey(const std::string& ns, const std::string& label, const std::string& value);

}  // namespace ambit::config
