// MeshModel: final messages (the joins of assemble.cc, per item) and the delta.
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <type_traits>

#include "common/config/mesh_model.h"
#include "common/config/mesh_model_state.h"

namespace ambit::config {
namespace {

size_t index(MeshType type) { return static_cast<size_t>(type); }

// The message's bytes with map entries in key order: equal iff the messages are equal (no
// unknown fields here), and much cheaper than reflection-based comparison.
std::string canonicalBytes(const google::protobuf::Message& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

bool sameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return a.GetDescriptor() == b.GetDescriptor() && canonicalBytes(a) == canonicalBytes(b);
}

}  // namespace

const v1::Namespace* MeshModel::State::namespaceMsg(const std::string& ns) const {
  auto it = namespaces.find(ns);
  return it != namespaces.end() && it->second.msg ? &*it->second.msg : nullptr;
}

std::string MeshModel::State::trafficType(const std::string& waypoint_ref) const {
  auto it = gateways.find(waypoint_ref);
  return it != gateways.end() && it->second.msg ? it->second.msg->traffic_type() : "service";
}

void MeshModel::State::dirtyNamespaceMembers(const std::string& ns) {
  if (auto it = pods_by_ns.find(ns); it != pods_by_ns.end())
    dirty_pods.insert(it->second.begin(), it->second.end());
  if (auto it = services_by_ns.find(ns); it != services_by_ns.end())
    dirty_services.insert(it->second.begin(), it->second.end());
}

void MeshModel::State::setFinal(MeshType type, const std::string& name,
                                std::shared_ptr<const google::protobuf::Message> msg) {
  Final& items = final[index(type)];
  auto it = items.find(name);
  if (msg == nullptr) {
    if (it == items.end()) return;
    changed[index(type)].try_emplace(name, true);
    items.erase(it);
  } else {
    if (it != items.end() && sameMessage(*it->second, *msg)) return;
    changed[index(type)].try_emplace(name, it != items.end());
    items.insert_or_assign(name, std::move(msg));
  }
  ++version;
}

void MeshModel::State::recomputeWorkload(const std::string& pod_key) {
  auto it = pods.find(pod_key);
  auto published = workload_names.find(pod_key);
  std::shared_ptr<v1::Workload> w;
  if (it != pods.end() && it->second.in_effect) {
    w = std::make_shared<v1::Workload>(*it->second.msg);
    bindWorkload(*w, namespaceMsg(w->namespace_()),
                 [this](const std::string& ref) { return trafficType(ref); });
  }
  if (published != workload_names.end() && (w == nullptr || published->second != w->uid())) {
    setFinal(MeshType::kWorkload, published->second, nullptr);
    if (auto owner = pod_of_uid.find(published->second);
        owner != pod_of_uid.end() && owner->second == pod_key) {
      pod_of_uid.erase(owner);
    }
    workload_names.erase(published);
  }
  if (w == nullptr) return;
  workload_names[pod_key] = w->uid();
  pod_of_uid[w->uid()] = pod_key;
  if (auto member = services_of_uid.find(w->uid()); member != services_of_uid.end()) {
    w->mutable_services()->Reserve(static_cast<int>(member->second.size()));
    for (const auto& name : member->second) w->add_services(name);
  }
  const std::string uid = w->uid();
  setFinal(MeshType::kWorkload, uid, std::move(w));
}

void MeshModel::State::updateMembership(const std::string& key,
                                        const std::vector<std::string>& before,
                                        const std::vector<std::string>& after) {
  auto touch = [this](const std::string& uid) {
    if (auto pod = pod_of_uid.find(uid); pod != pod_of_uid.end()) dirty_pods.insert(pod->second);
  };
  std::vector<std::string> left;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(left));
  for (const auto& uid : left) {
    auto member = services_of_uid.find(uid);
    if (member == services_of_uid.end()) continue;
    member->second.erase(key);
    if (member->second.empty()) services_of_uid.erase(member);
    touch(uid);
  }
  std::vector<std::string> joined;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(joined));
  for (const auto& uid : joined) {
    services_of_uid[uid].insert(key);
    touch(uid);
  }
}

void MeshModel::State::recomputeService(const std::string& key) {
  std::vector<std::string> before;
  if (auto old = final[index(MeshType::kService)].find(key);
      old != final[index(MeshType::kService)].end()) {
    const auto& endpoints = static_cast<const v1::Service&>(*old->second).endpoints();
    before.assign(endpoints.begin(), endpoints.end());
  }
  auto it = services.find(key);
  if (it == services.end()) {
    updateMembership(key, before, {});
    setFinal(MeshType::kService, key, nullptr);
    return;
  }
  auto s = std::make_shared<v1::Service>(*it->second.msg);
  const std::string& ns = s->namespace_();
  std::set<std::string> from_slices;
  const std::set<std::string>* endpoints = &it->second.selected;
  if (s->selector().empty()) {
    endpoints = &from_slices;
    if (auto slices_of = slices_by_service.find(key); slices_of != slices_by_service.end()) {
      for (const auto& slice_key : slices_of->second) {
        for (const auto& pod_key : slices.at(slice_key).msg->pods) {
          auto pod = pods.find(pod_key);
          if (pod != pods.end() && pod->second.in_effect)
            from_slices.insert(pod->second.msg->uid());
        }
      }
    }
  }
  s->mutable_endpoints()->Reserve(static_cast<int>(endpoints->size()));
  for (const auto& uid : *endpoints) s->add_endpoints(uid);
  updateMembership(key, before, {endpoints->begin(), endpoints->end()});
  bindServiceWaypoint(*s, namespaceMsg(ns),
                      [this](const std::string& ref) { return trafficType(ref); });
  setFinal(MeshType::kService, key, std::move(s));
}

void MeshModel::State::recomputeWaypoint(const std::string& key) {
  auto it = gateways.find(key);
  if (it == gateways.end() || !it->second.msg) {
    setFinal(MeshType::kWaypoint, key, nullptr);
    return;
  }
  auto wp = std::make_shared<v1::Waypoint>(*it->second.msg);
  if (wp->addresses_size() == 0) {
    auto backing = workloads_by_label.find(labelKey(wp->namespace_(), kGatewayName, wp->name()));
    if (backing != workloads_by_label.end()) {
      for (const auto& pod_key : backing->second) {
        for (const auto& a : pods.at(pod_key).msg->addresses()) wp->add_addresses(a);
      }
    }
  }
  setFinal(MeshType::kWaypoint, key, std::move(wp));
}

void MeshModel::State::recomputeRouteName(const std::string& name) {
  // Several routes may share a name (a VirtualService and an HTTPRoute): the earliest stored
  // one in effect wins.
  std::shared_ptr<v1::RouteTable> table;
  if (auto owners = routes_by_name.find(name); owners != routes_by_name.end()) {
    for (const auto& [seq, key] : owners->second) {
      const RouteEntry& r = routes.at(key);
      if (!r.in_effect) continue;
      table = std::make_shared<v1::RouteTable>(*r.msg);
      break;
    }
  }
  setFinal(MeshType::kRouteTable, name, std::move(table));
}

void MeshModel::State::flush() {
  // Services first: a change of their endpoints marks the pods whose Workload.services change.
  for (const auto& key : dirty_services) recomputeService(key);
  for (const auto& key : dirty_pods) recomputeWorkload(key);
  for (const auto& key : dirty_waypoints) recomputeWaypoint(key);
  for (const auto& name : dirty_route_names) recomputeRouteName(name);
  dirty_pods.clear();
  dirty_services.clear();
  dirty_waypoints.clear();
  dirty_route_names.clear();
}

size_t MeshDelta::size() const {
  size_t n = 0;
  for (const auto& c : changes) n += c.upserted.size() + c.removed.size();
  return n;
}

MeshDelta MeshModel::takeDelta() {
  State& s = *state_;
  s.flush();
  MeshDelta delta;
  for (MeshType type : kMeshTypes) {
    auto& changed = s.changed[index(type)];
    const auto& items = s.final[index(type)];
    MeshDelta::Changes& out = delta.changes[index(type)];
    for (const auto& [name, existed] : changed) {
      auto it = items.find(name);
      if (it != items.end()) {
        out.upserted.emplace_back(name, it->second);
      } else if (existed) {
        out.removed.push_back(name);
      }
    }
    changed.clear();
    std::sort(out.upserted.begin(), out.upserted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::sort(out.removed.begin(), out.removed.end());
  }
  return delta;
}

size_t MeshModel::size(MeshType type) const {
  state_->flush();
  return state_->final[index(type)].size();
}

v1::MeshSnapshot MeshModel::snapshot() const {
  State& s = *state_;
  s.flush();
  v1::MeshSnapshot snap;
  snap.set_trust_domain(s.options.trust_domain);
  snap.set_root_namespace(s.options.root_namespace);
  snap.set_version(std::to_string(s.version));
  auto copy = [&s](MeshType type, auto* field) {
    using T = typename std::remove_pointer_t<decltype(field)>::value_type;
    std::vector<std::pair<const std::string*, const T*>> sorted;
    for (const auto& [name, msg] : s.final[index(type)])
      sorted.emplace_back(&name, static_cast<const T*>(msg.get()));
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    field->Reserve(static_cast<int>(sorted.size()));
    for (const auto& [name, msg] : sorted) *field->Add() = *msg;
  };
  copy(MeshType::kNamespace, snap.mutable_namespaces());
  copy(MeshType::kWorkload, snap.mutable_workloads());
  copy(MeshType::kService, snap.mutable_services());
  copy(MeshType::kWaypoint, snap.mutable_waypoints());
  copy(MeshType::kAuthorizationPolicy, snap.mutable_authorization_policies());
  copy(MeshType::kPeerAuthentication, snap.mutable_peer_authentications());
  copy(MeshType::kRequestAuthentication, snap.mutable_request_authentications());
  copy(MeshType::kRouteTable, snap.mutable_route_tables());
  copy(MeshType::kDestinationPolicy, snap.mutable_destination_policies());
  return snap;
}

Status applyDelta(const MeshDelta& delta, v1::MeshSnapshot& snapshot) {
  std::map<std::pair<MeshType, std::string>, google::protobuf::Any> items;
  Status failed = Status::ok();
  forEachResource(
      snapshot, [&](MeshType type, const std::string& name, const google::protobuf::Message& msg) {
        items[{type, name}].PackFrom(msg);
      });
  for (MeshType type : kMeshTypes) {
    for (const auto& name : delta.of(type).removed) items.erase({type, name});
    for (const auto& [name, msg] : delta.of(type).upserted) items[{type, name}].PackFrom(*msg);
  }
  v1::MeshSnapshot out;
  for (const auto& [key, any] : items) {
    if (Status st = addResource(out, key.first, key.second, any); !st.ok()) return st;
  }
  out.set_version(snapshot.version());
  snapshot = std::move(out);
  return Status::ok();
}

}  // namespace ambit::config
