#include "common/config/assemble.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "common/config/mesh_resources.h"

namespace ambit::config {
namespace {

constexpr const char* kDataplaneMode = "istio.io/dataplane-mode";
constexpr const char* kUseWaypoint = "istio.io/use-waypoint";

template <typename T>
bool good(const Sourced<T>& item, const std::set<std::string>& bad_files) {
  return bad_files.count(item.origin->file) == 0;
}

template <typename T, typename Field>
void copyGood(const std::vector<Sourced<T>>& in, const std::set<std::string>& bad_files,
              Field* out) {
  for (const auto& item : in) {
    if (good(item, bad_files)) *out->Add() = item.msg;
  }
}

// Traffic type of the waypoint "<ns>/<name>"; "service" (Istio's default) when not declared.
std::string trafficType(const v1::MeshSnapshot& snap, const std::string& ref) {
  for (const auto& w : snap.waypoints()) {
    if (fmt::format("{}/{}", w.namespace_(), w.name()) == ref) return w.traffic_type();
  }
  return "service";
}

// Binding from a resource's own label: nullopt when unlabelled, "" when opted out ("none").
std::optional<std::string> ownBinding(const Labels& l, const std::string& ns) {
  const std::string v = labelOf(l, kUseWaypoint);
  if (v.empty()) return std::nullopt;
  if (v == "none") return std::string();
  return fmt::format("{}/{}", ns, v);
}

void bindWorkloads(v1::MeshSnapshot& snap, const std::map<std::string, const v1::Namespace*>& ns) {
  for (auto& w : *snap.mutable_workloads()) {
    auto it = ns.find(w.namespace_());
    bindWorkload(w, it == ns.end() ? nullptr : it->second,
                 [&](const std::string& ref) { return trafficType(snap, ref); });
  }
}

// Workloads by (namespace, label key, label value), each list in snapshot order. A service's
// candidate endpoints are the workloads carrying its selector's rarest label, so binding costs
// O(candidates) per service instead of a scan of every workload (quadratic at 100k pods).
class WorkloadsByLabel {
 public:
  explicit WorkloadsByLabel(const v1::MeshSnapshot& snap) {
    for (const auto& w : snap.workloads()) {
      for (const auto& [k, v] : w.labels()) index_[key(w.namespace_(), k, v)].push_back(&w);
    }
  }

  // Null when no workload can match (empty selector, or a label nobody carries).
  const std::vector<const v1::Workload*>* candidates(const std::string& ns,
                                                     const Labels& selector) const {
    const std::vector<const v1::Workload*>* best = nullptr;
    for (const auto& [k, v] : selector) {
      auto it = index_.find(key(ns, k, v));
      if (it == index_.end()) return nullptr;
      if (best == nullptr || it->second.size() < best->size()) best = &it->second;
    }
    return best;
  }

 private:
  static std::string key(const std::string& ns, const std::string& k, const std::string& v) {
    std::string out;
    out.reserve(ns.size() + k.size() + v.size() + 2);
    out.append(ns).push_back('\0');
    out.append(k).push_back('\0');
    out.append(v);
    return out;
  }

  std::unordered_map<std::string, std::vector<const v1::Workload*>> index_;
};

// Pods named by the EndpointSlices of each selector-less Service ("<ns>/<name>"), resolved to
// workload uids.
using SlicePods = std::map<std::string, std::vector<std::string>>;

void addSliceEndpoints(v1::Service& s, const SlicePods& slice_pods,
                       const std::unordered_map<std::string, std::string>& uid_by_pod) {
  auto it = slice_pods.find(fmt::format("{}/{}", s.namespace_(), s.name()));
  if (it == slice_pods.end()) return;
  std::set<std::string> added;
  for (const auto& pod : it->second) {
    auto uid = uid_by_pod.find(pod);
    if (uid != uid_by_pod.end() && added.insert(uid->second).second) s.add_endpoints(uid->second);
  }
}

// Each workload's services: the inverse of the services' endpoints, by resource name, sorted.
void listWorkloadServices(v1::MeshSnapshot& snap) {
  std::unordered_map<std::string, std::vector<std::string>> services_of;
  for (const auto& s : snap.services()) {
    if (s.endpoints().empty()) continue;
    std::string name = resourceName(s);
    for (const auto& uid : s.endpoints()) services_of[uid].push_back(name);
  }
  for (auto& w : *snap.mutable_workloads()) {
    w.clear_services();
    auto it = services_of.find(w.uid());
    if (it == services_of.end()) continue;
    std::sort(it->second.begin(), it->second.end());
    for (auto& name : it->second) w.add_services(std::move(name));
  }
}

void bindServices(v1::MeshSnapshot& snap, const std::map<std::string, const v1::Namespace*>& ns,
                  const SlicePods& slice_pods) {
  const WorkloadsByLabel workloads(snap);
  std::unordered_map<std::string, std::string> uid_by_pod;
  if (!slice_pods.empty()) {
    for (const auto& w : snap.workloads())
      uid_by_pod.emplace(fmt::format("{}/{}", w.namespace_(), w.name()), w.uid());
  }
  for (auto& s : *snap.mutable_services()) {
    if (s.selector().empty()) {
      addSliceEndpoints(s, slice_pods, uid_by_pod);
    } else if (const auto* candidates = workloads.candidates(s.namespace_(), s.selector())) {
      for (const v1::Workload* w : *candidates) {
        if (selects(s.selector(), w->labels())) s.add_endpoints(w->uid());
      }
    }
    auto it = ns.find(s.namespace_());
    bindServiceWaypoint(s, it == ns.end() ? nullptr : it->second,
                        [&](const std::string& ref) { return trafficType(snap, ref); });
  }
  listWorkloadServices(snap);
}

// A waypoint without status addresses takes the IPs of its pods (Istio labels them with
// gateway.networking.k8s.io/gateway-name).
void resolveWaypointAddresses(v1::MeshSnapshot& snap) {
  for (auto& wp : *snap.mutable_waypoints()) {
    if (wp.addresses_size() > 0) continue;
    for (const auto& w : snap.workloads()) {
      if (w.namespace_() == wp.namespace_() && labelOf(w.labels(), kGatewayName) == wp.name()) {
        for (const auto& a : w.addresses()) wp.add_addresses(a);
      }
    }
  }
}

}  // namespace

std::string labelOf(const Labels& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

bool selects(const Labels& selector, const Labels& labels) {
  if (selector.empty()) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

void bindWorkload(v1::Workload& w, const v1::Namespace* ns, const TrafficTypeOf& traffic_type) {
  const std::string mode = labelOf(w.labels(), kDataplaneMode);
  w.set_enrolled(mode == "ambient" || (mode != "none" && ns != nullptr && ns->ambient()));
  if (auto own = ownBinding(w.labels(), w.namespace_())) {
    w.set_waypoint(*own);
  } else if (ns != nullptr && !ns->waypoint().empty()) {
    const std::string t = traffic_type(ns->waypoint());
    if (t == "workload" || t == "all") w.set_waypoint(ns->waypoint());
  }
}

void bindServiceWaypoint(v1::Service& s, const v1::Namespace* ns,
                         const TrafficTypeOf& traffic_type) {
  if (auto own = ownBinding(s.labels(), s.namespace_())) {
    s.set_waypoint(*own);
  } else if (ns != nullptr && !ns->waypoint().empty()) {
    const std::string t = traffic_type(ns->waypoint());
    if (t == "service" || t == "all") s.set_waypoint(ns->waypoint());
  }
}

void crossCheck(const PartialModel& model, ConfigErrors& errors) {
  for (const auto& ref : model.subset_refs) {
    bool found = false;
    for (const auto& dr : model.destination_policies) {
      if (dr.msg.host() != ref.host) continue;
      for (const auto& s : dr.msg.subsets()) found = found || s.name() == ref.subset;
    }
    if (!found) {
      FieldReader(ref.origin->file, ref.origin->object(), ref.origin->doc, errors)
          .fail(ref.at, fmt::format("subset '{}' of host {} is not defined by any "
                                    "DestinationRule",
                                    ref.subset, ref.host));
    }
  }
  std::map<std::string, const IpClaim*> owners;
  for (const auto& claim : model.ip_claims) {
    auto [it, inserted] = owners.emplace(claim.ip, &claim);
    if (!inserted && it->second->origin != claim.origin) {
      FieldReader(claim.origin->file, claim.origin->object(), claim.origin->doc, errors)
          .fail(claim.at, fmt::format("pod IP {} is already used by {} ({}:{})", claim.ip,
                                      it->second->origin->object(), it->second->origin->file,
                                      it->second->origin->line));
    }
  }
}

v1::MeshSnapshot assemble(const PartialModel& model, const std::set<std::string>& bad_files,
                          const LoaderOptions& options) {
  v1::MeshSnapshot snap;
  snap.set_trust_domain(options.trust_domain);
  snap.set_root_namespace(options.root_namespace);
  copyGood(model.namespaces, bad_files, snap.mutable_namespaces());
  copyGood(model.waypoints, bad_files, snap.mutable_waypoints());
  copyGood(model.workloads, bad_files, snap.mutable_workloads());
  copyGood(model.services, bad_files, snap.mutable_services());
  copyGood(model.authorization_policies, bad_files, snap.mutable_authorization_policies());
  copyGood(model.peer_authentications, bad_files, snap.mutable_peer_authentications());
  copyGood(model.request_authentications, bad_files, snap.mutable_request_authentications());
  copyGood(model.route_tables, bad_files, snap.mutable_route_tables());
  copyGood(model.destination_policies, bad_files, snap.mutable_destination_policies());
  std::map<std::string, const v1::Namespace*> ns;
  for (const auto& n : snap.namespaces()) ns.emplace(n.name(), &n);
  resolveWaypointAddresses(snap);
  bindWorkloads(snap, ns);
  SlicePods slice_pods;
  for (const auto& slice : model.endpoint_slices) {
    if (!good(slice, bad_files)) continue;
    auto& pods = slice_pods[fmt::format("{}/{}", slice.msg.ns, slice.msg.service)];
    pods.insert(pods.end(), slice.msg.pods.begin(), slice.msg.pods.end());
  }
  bindServices(snap, ns, slice_pods);
  return snap;
}

}  // namespace ambit::config
