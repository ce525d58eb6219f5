// MeshModel: stored objects, join indexes and cross-resource conditions. The final messages
// are recomputed in mesh_model_joins.cc from what these functions mark dirty.
#include "common/config/mesh_model.h"

#include <fmt/format.h>

#include "common/config/kube_object.h"
#include "common/config/kube_pod.h"
#include "common/config/mesh_model_state.h"
#include "common/config/model.h"

namespace ambit::config {
namespace {

std::string namespaceOf(const std::string& key) { return key.substr(0, key.find('/')); }

bool sameLabels(const Labels& a, const Labels& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) return false;
  }
  return true;
}

// Same as far as services and waypoints are concerned.
bool sameForJoins(const v1::Workload& a, const v1::Workload& b) {
  return a.uid() == b.uid() && sameLabels(a.labels(), b.labels()) &&
         std::equal(a.addresses().begin(), a.addresses().end(), b.addresses().begin(),
                    b.addresses().end());
}

template <typename T>
void eraseFrom(std::unordered_map<std::string, std::set<T>>& index, const std::string& key,
               const T& value) {
  auto it = index.find(key);
  if (it == index.end()) return;
  it->second.erase(value);
  if (it->second.empty()) index.erase(it);
}

std::string fileOf(const std::string& object) { return "kubernetes:" + object; }

// The label a service is indexed under: its selector's smallest key (any one of its labels
// would do: every pod the service selects carries all of them).
std::string indexLabel(const std::string& ns, const Labels& selector) {
  auto first = selector.begin();
  for (auto it = selector.begin(); it != selector.end(); ++it) {
    if (it->first < first->first) first = it;
  }
  return labelKey(ns, first->first, first->second);
}

}  // namespace

std::string labelKey(const std::string& ns, const std::string& label, const std::string& value) {
  std::string out;
  out.reserve(ns.size() + label.size() + value.size() + 2);
  out.append(ns).push_back('\0');
  out.append(label).push_back('\0');
  out.append(value);
  return out;
}

std::string_view outcomeName(UpsertOutcome outcome) {
  switch (outcome) {
    case UpsertOutcome::kApplied:
      return "applied";
    case UpsertOutcome::kPending:
      return "pending";
    case UpsertOutcome::kRejected:
      return "rejected";
    case UpsertOutcome::kIgnored:
      return "ignored";
  }
  return "";
}

MeshModel::State::State(LoaderOptions o) : options(std::move(o)) {
  auto settings = std::make_shared<v1::MeshSnapshot>();
  settings->set_trust_domain(options.trust_domain);
  settings->set_root_namespace(options.root_namespace);
  setFinal(MeshType::kSettings, std::string(kSettingsName), std::move(settings));
}

void MeshModel::State::setNamespace(const std::string& name,
                                    std::optional<Stored<v1::Namespace>> in) {
  auto binding = [](const v1::Namespace* n) {
    return n != nullptr ? std::pair(n->ambient(), n->waypoint()) : std::pair(false, std::string());
  };
  auto it = namespaces.find(name);
  const v1::Namespace* was = it != namespaces.end() && it->second.msg ? &*it->second.msg : nullptr;
  const auto before = binding(was);
  const v1::Namespace* now = nullptr;
  if (!in) {
    if (it == namespaces.end()) return;
    namespaces.erase(it);
  } else {
    in->seq = it == namespaces.end() ? next_seq++ : it->second.seq;
    it = namespaces.insert_or_assign(name, std::move(*in)).first;
    now = it->second.msg ? &*it->second.msg : nullptr;
  }
  setFinal(MeshType::kNamespace, name, now ? std::make_shared<v1::Namespace>(*now) : nullptr);
  if (before != binding(now)) dirtyNamespaceMembers(name);
}

bool MeshModel::State::ownsClaims(const std::string& key, PodEntry& pod) {
  pod.pending.clear();
  if (!pod.msg) return false;
  for (const auto& ip : pod.ips) {
    const std::string& owner = ip_claims[ip].begin()->second;
    if (owner == key) continue;
    pod.pending.push_back(
        ConfigError{fileOf(pod.object), 0, 0, pod.object,
                    fmt::format("pod IP {} is already used by {}", ip, pods.at(owner).object)});
  }
  return pod.pending.empty();
}

void MeshModel::State::onPodEffect(const std::string& key, const v1::Workload* before,
                                   const v1::Workload* after) {
  dirty_pods.insert(key);
  if (before != nullptr && after != nullptr && sameForJoins(*before, *after)) return;
  const std::string ns = namespaceOf(key);
  std::set<std::string> candidates;
  for (const v1::Workload* w : {before, after}) {
    if (w == nullptr) continue;
    for (const auto& [k, v] : w->labels()) {
      auto it = services_by_label.find(labelKey(ns, k, v));
      if (it != services_by_label.end()) candidates.insert(it->second.begin(), it->second.end());
    }
    const std::string gateway = labelOf(w->labels(), kGatewayName);
    if (!gateway.empty()) dirty_waypoints.insert(fmt::format("{}/{}", ns, gateway));
  }
  for (const auto& svc : candidates) {
    ServiceEntry& s = services.at(svc);
    const bool was = before != nullptr && selects(s.msg->selector(), before->labels());
    const bool now = after != nullptr && selects(s.msg->selector(), after->labels());
    if (was) s.selected.erase(before->uid());
    if (now) s.selected.insert(after->uid());
    if (was || now) dirty_services.insert(svc);
  }
  if (before != nullptr) {
    for (const auto& [k, v] : before->labels())
      eraseFrom(workloads_by_label, labelKey(ns, k, v), key);
  }
  if (after != nullptr) {
    for (const auto& [k, v] : after->labels()) workloads_by_label[labelKey(ns, k, v)].insert(key);
  }
  if (auto it = slice_services_by_pod.find(key); it != slice_services_by_pod.end()) {
    for (const auto& [svc, count] : it->second) dirty_services.insert(svc);
  }
}

void MeshModel::State::setPod(const std::string& key, std::optional<PodEntry> in) {
  auto it = pods.find(key);
  std::optional<v1::Workload> before;
  std::vector<std::string> affected_ips;
  if (it != pods.end()) {
    if (it->second.in_effect) before = it->second.msg;
    affected_ips = it->second.ips;
    for (const auto& ip : it->second.ips) {
      auto c = ip_claims.find(ip);
      c->second.erase(it->second.seq);
      if (c->second.empty()) ip_claims.erase(c);
    }
  }
  if (!in) {
    if (it == pods.end()) return;
    eraseFrom(pods_by_ns, namespaceOf(key), key);
    pods.erase(it);
    onPodEffect(key, before ? &*before : nullptr, nullptr);
  } else {
    if (it == pods.end()) {
      in->seq = next_seq++;
      it = pods.emplace(key, std::move(*in)).first;
      pods_by_ns[namespaceOf(key)].insert(key);
    } else {
      in->seq = it->second.seq;
      it->second = std::move(*in);
    }
    PodEntry& pod = it->second;
    for (const auto& ip : pod.ips) {
      ip_claims[ip][pod.seq] = key;
      affected_ips.push_back(ip);
    }
    pod.in_effect = ownsClaims(key, pod);
    onPodEffect(key, before ? &*before : nullptr, pod.in_effect ? &*pod.msg : nullptr);
  }
  // Other claimants of these IPs may have gained or lost them.
  std::set<std::string> others;
  for (const auto& ip : affected_ips) {
    auto c = ip_claims.find(ip);
    if (c == ip_claims.end()) continue;
    for (const auto& [seq, pod] : c->second) {
      if (pod != key) others.insert(pod);
    }
  }
  for (const auto& other : others) {
    PodEntry& pod = pods.at(other);
    const bool was = pod.in_effect;
    pod.in_effect = ownsClaims(other, pod);
    if (was != pod.in_effect) {
      onPodEffect(other, was ? &*pod.msg : nullptr, pod.in_effect ? &*pod.msg : nullptr);
    }
  }
}

std::set<std::string> MeshModel::State::selectedBy(const std::string& ns,
                                                   const Labels& selector) const {
  std::set<std::string> out;
  // Candidates: the in-effect pods carrying the selector's rarest label.
  const std::set<std::string>* best = nullptr;
  for (const auto& [k, v] : selector) {
    auto c = workloads_by_label.find(labelKey(ns, k, v));
    if (c == workloads_by_label.end()) return out;
    if (best == nullptr || c->second.size() < best->size()) best = &c->second;
  }
  if (best == nullptr) return out;
  for (const auto& pod_key : *best) {
    const v1::Workload& w = *pods.at(pod_key).msg;
    if (selects(selector, w.labels())) out.insert(w.uid());
  }
  return out;
}

void MeshModel::State::setService(const std::string& key, std::optional<ServiceEntry> in) {
  auto it = services.find(key);
  const std::string ns = namespaceOf(key);
  dirty_services.insert(key);
  if (it != services.end() && !it->second.msg->selector().empty()) {
    eraseFrom(services_by_label, indexLabel(ns, it->second.msg->selector()), key);
  }
  if (!in) {
    if (it == services.end()) return;
    eraseFrom(services_by_ns, ns, key);
    services.erase(it);
    return;
  }
  const Labels& selector = in->msg->selector();
  if (it != services.end() && sameLabels(it->second.msg->selector(), selector)) {
    in->selected = std::move(it->second.selected);
  } else {
    in->selected = selectedBy(ns, selector);
  }
  if (!selector.empty()) services_by_label[indexLabel(ns, selector)].insert(key);
  if (it == services.end()) {
    in->seq = next_seq++;
    services.emplace(key, std::move(*in));
    services_by_ns[ns].insert(key);
  } else {
    in->seq = it->second.seq;
    it->second = std::move(*in);
  }
}

void MeshModel::State::setGateway(const std::string& key, std::optional<Stored<v1::Waypoint>> in) {
  const std::string ns = namespaceOf(key);
  auto n = namespaces.find(ns);
  const bool bound = n != namespaces.end() && n->second.msg && n->second.msg->waypoint() == key;
  const std::string before = trafficType(key);
  auto it = gateways.find(key);
  if (!in) {
    if (it == gateways.end()) return;
    gateways.erase(it);
  } else if (it == gateways.end()) {
    in->seq = next_seq++;
    gateways.emplace(key, std::move(*in));
  } else {
    in->seq = it->second.seq;
    it->second = std::move(*in);
  }
  dirty_waypoints.insert(key);
  if (bound && trafficType(key) != before) dirtyNamespaceMembers(ns);
}

template <typename T>
void MeshModel::State::setPlain(std::unordered_map<std::string, Stored<T>>& map, MeshType type,
                                const std::string& key, std::optional<Stored<T>> in) {
  auto it = map.find(key);
  if (!in) {
    if (it == map.end()) return;
    map.erase(it);
    setFinal(type, key, nullptr);
    return;
  }
  in->seq = it == map.end() ? next_seq++ : it->second.seq;
  auto msg = in->msg ? std::make_shared<T>(*in->msg) : nullptr;
  map.insert_or_assign(key, std::move(*in));
  setFinal(type, key, std::move(msg));
}

void MeshModel::State::setDestinationRule(const std::string& key,
                                          std::optional<Stored<v1::DestinationPolicy>> in) {
  std::set<std::string> hosts;
  auto count = [&](const v1::DestinationPolicy& dp, int delta) {
    hosts.insert(dp.host());
    auto& subsets = subsets_by_host[dp.host()];
    for (const auto& s : dp.subsets()) {
      if ((subsets[s.name()] += delta) == 0) subsets.erase(s.name());
    }
    if (subsets.empty()) subsets_by_host.erase(dp.host());
  };
  if (auto it = destination_rules.find(key); it != destination_rules.end())
    count(*it->second.msg, -1);
  if (in) count(*in->msg, +1);
  setPlain(destination_rules, MeshType::kDestinationPolicy, key, std::move(in));
  for (const auto& host : hosts) {
    auto refs = routes_by_host.find(host);
    if (refs == routes_by_host.end()) continue;
    for (const auto& route : refs->second) recheckRoute(route);
  }
}

void MeshModel::State::recheckRoute(const std::string& key) {
  RouteEntry& r = routes.at(key);
  r.pending.clear();
  for (const auto& [host, subset] : r.subset_refs) {
    auto h = subsets_by_host.find(host);
    if (h != subsets_by_host.end() && h->second.count(subset) > 0) continue;
    r.pending.push_back(ConfigError{
        fileOf(r.object), 0, 0, r.object,
        fmt::format("subset '{}' of host {} is not defined by any DestinationRule", subset, host)});
  }
  r.in_effect = r.pending.empty();
  dirty_route_names.insert(resourceName(*r.msg));
}

void MeshModel::State::setRoute(const std::string& key, std::optional<RouteEntry> in) {
  auto it = routes.find(key);
  if (it != routes.end()) {
    const std::string name = resourceName(*it->second.msg);
    for (const auto& [host, subset] : it->second.subset_refs) eraseFrom(routes_by_host, host, key);
    auto& owners = routes_by_name[name];
    owners.erase(it->second.seq);
    if (owners.empty()) routes_by_name.erase(name);
    dirty_route_names.insert(name);
  }
  if (!in) {
    if (it != routes.end()) routes.erase(it);
    return;
  }
  if (it == routes.end()) {
    in->seq = next_seq++;
    it = routes.emplace(key, std::move(*in)).first;
  } else {
    in->seq = it->second.seq;
    it->second = std::move(*in);
  }
  for (const auto& [host, subset] : it->second.subset_refs) routes_by_host[host].insert(key);
  routes_by_name[resourceName(*it->second.msg)][it->second.seq] = key;
  recheckRoute(key);
}

void MeshModel::State::setSlice(const std::string& key, std::optional<SliceEntry> in) {
  auto link = [&](const SliceEntry& s, int delta) {
    if (!s.msg) return;
    dirty_services.insert(s.service_key);
    if (delta > 0) {
      slices_by_service[s.service_key].insert(key);
    } else {
      eraseFrom(slices_by_service, s.service_key, key);
    }
    for (const auto& pod : s.msg->pods) {
      auto& services_of_pod = slice_services_by_pod[pod];
      if ((services_of_pod[s.service_key] += delta) == 0) services_of_pod.erase(s.service_key);
      if (services_of_pod.empty()) slice_services_by_pod.erase(pod);
    }
  };
  auto it = slices.find(key);
  if (it != slices.end()) link(it->second, -1);
  if (!in) {
    if (it != slices.end()) slices.erase(it);
    return;
  }
  in->seq = it == slices.end() ? next_seq++ : it->second.seq;
  link(*in, +1);
  slices.insert_or_assign(key, std::move(*in));
}

MeshModel::MeshModel(LoaderOptions options) : state_(std::make_unique<State>(std::move(options))) {}

MeshModel::~MeshModel() = default;

namespace {

// Moves the single item a kind translator produced (nothing for some objects) out of `items`.
template <typename T>
std::optional<T> single(std::vector<Sourced<T>>& items) {
  if (items.empty()) return std::nullopt;
  return std::move(items.front().msg);
}

// The direct JSON path for Pods (kube_pod.h): what translateResource() would have produced.
bool translatePodJson(const nlohmann::json& object, std::string_view api_version,
                      const LoaderOptions& options, PartialModel& partial, UpsertResult& result,
                      std::string& ns, std::string& name) {
  std::optional<KubePod> pod = translateKubePod(object, api_version, options, result.errors);
  if (!pod) return false;
  result.object = pod->object;
  ns = pod->ns;
  name = pod->name;
  if (pod->workload) partial.workloads.push_back({std::move(*pod->workload), nullptr});
  for (std::string& ip : pod->ips) partial.ip_claims.push_back(IpClaim{std::move(ip), {}, nullptr});
  return true;
}

}  // namespace

UpsertResult MeshModel::upsert(const nlohmann::json& object, std::string_view kind,
                               std::string_view api_version) {
  UpsertResult result;
  PartialModel partial;
  std::string k, ns, name;
  if (isKubePod(object, kind)) {
    k = "Pod";
    if (!translatePodJson(object, api_version, state_->options, partial, result, ns, name)) {
      result.outcome = UpsertOutcome::kRejected;
      return result;
    }
  } else {
    std::optional<Resource> res = kubeObjectResource(object, result.errors, kind, api_version);
    if (!res) {
      result.outcome = UpsertOutcome::kRejected;
      return result;
    }
    result.object = res->object();
    if (!isMeshKind(res->kind)) {
      result.outcome = UpsertOutcome::kIgnored;
      result.errors.push_back(ConfigError{res->file, 0, 0, result.object,
                                          fmt::format("kind '{}' is not part of the mesh model; "
                                                      "ignored",
                                                      res->kind)});
      return result;
    }
    std::map<std::string, const Resource*> seen;
    translateResource(*res, state_->options, partial, seen, result.errors);
    k = res->kind;
    ns = res->ns;
    name = res->name;
  }
  if (!result.errors.empty()) {
    result.outcome = UpsertOutcome::kRejected;
    return result;
  }
  State& s = *state_;
  const std::string key = fmt::format("{}/{}", ns, name);
  const ConfigErrors* pending = nullptr;
  if (k == "Namespace") {
    s.setNamespace(name, Stored<v1::Namespace>{0, result.object, single(partial.namespaces)});
  } else if (k == "Pod") {
    PodEntry pod;
    pod.object = result.object;
    pod.msg = single(partial.workloads);
    for (const auto& claim : partial.ip_claims) pod.ips.push_back(claim.ip);
    s.setPod(key, std::move(pod));
    pending = &s.pods.at(key).pending;
  } else if (k == "Service") {
    ServiceEntry svc;
    svc.object = result.object;
    svc.msg = single(partial.services);
    s.setService(key, std::move(svc));
  } else if (k == "Gateway") {
    s.setGateway(key, Stored<v1::Waypoint>{0, result.object, single(partial.waypoints)});
  } else if (k == "AuthorizationPolicy") {
    s.setPlain(s.authorization_policies, MeshType::kAuthorizationPolicy, key,
               std::make_optional(Stored<v1::AuthorizationPolicy>{
                   0, result.object, single(partial.authorization_policies)}));
  } else if (k == "PeerAuthentication") {
    s.setPlain(s.peer_authentications, MeshType::kPeerAuthentication, key,
               std::make_optional(Stored<v1::PeerAuthentication>{
                   0, result.object, single(partial.peer_authentications)}));
  } else if (k == "RequestAuthentication") {
    s.setPlain(s.request_authentications, MeshType::kRequestAuthentication, key,
               std::make_optional(Stored<v1::RequestAuthentication>{
                   0, result.object, single(partial.request_authentications)}));
  } else if (k == "DestinationRule") {
    s.setDestinationRule(
        key, Stored<v1::DestinationPolicy>{0, result.object, single(partial.destination_policies)});
  } else if (k == "VirtualService" || k == "HTTPRoute") {
    RouteEntry route;
    route.object = result.object;
    route.msg = single(partial.route_tables);
    for (const auto& ref : partial.subset_refs)
      route.subset_refs.emplace_back(ref.host, ref.subset);
    s.setRoute(result.object, std::move(route));
    pending = &s.routes.at(result.object).pending;
  } else if (k == "EndpointSlice") {
    SliceEntry slice;
    slice.object = result.object;
    slice.msg = single(partial.endpoint_slices);
    if (slice.msg) slice.service_key = fmt::format("{}/{}", slice.msg->ns, slice.msg->service);
    s.setSlice(key, std::move(slice));
  }
  if (pending != nullptr && !pending->empty()) {
    result.outcome = UpsertOutcome::kPending;
    result.errors = *pending;
  }
  return result;
}

bool MeshModel::remove(std::string_view kind, std::string_view ns, std::string_view name) {
  State& s = *state_;
  const std::string key = fmt::format("{}/{}", ns.empty() ? "default" : ns, name);
  auto drop = [](auto& map, const std::string& k, auto&& set) {
    if (map.count(k) == 0) return false;
    set(k);
    return true;
  };
  if (kind == "Namespace") {
    return drop(s.namespaces, std::string(name),
                [&](const std::string& k) { s.setNamespace(k, std::nullopt); });
  }
  if (kind == "Pod") return drop(s.pods, key, [&](const auto& k) { s.setPod(k, std::nullopt); });
  if (kind == "Service")
    return drop(s.services, key, [&](const auto& k) { s.setService(k, std::nullopt); });
  if (kind == "Gateway")
    return drop(s.gateways, key, [&](const auto& k) { s.setGateway(k, std::nullopt); });
  if (kind == "AuthorizationPolicy") {
    return drop(s.authorization_policies, key, [&](const auto& k) {
      s.setPlain(s.authorization_policies, MeshType::kAuthorizationPolicy, k, {});
    });
  }
  if (kind == "PeerAuthentication") {
    return drop(s.peer_authentications, key, [&](const auto& k) {
      s.setPlain(s.peer_authentications, MeshType::kPeerAuthentication, k, {});
    });
  }
  if (kind == "RequestAuthentication") {
    return drop(s.request_authentications, key, [&](const auto& k) {
      s.setPlain(s.request_authentications, MeshType::kRequestAuthentication, k, {});
    });
  }
  if (kind == "DestinationRule") {
    return drop(s.destination_rules, key,
                [&](const auto& k) { s.setDestinationRule(k, std::nullopt); });
  }
  if (kind == "VirtualService" || kind == "HTTPRoute") {
    const std::string object = fmt::format("{} {}", kind, key);
    return drop(s.routes, object, [&](const auto& k) { s.setRoute(k, std::nullopt); });
  }
  if (kind == "EndpointSlice")
    return drop(s.slices, key, [&](const auto& k) { s.setSlice(k, std::nullopt); });
  return false;
}

size_t MeshModel::objectCount() const {
  const State& s = *state_;
  return s.namespaces.size() + s.pods.size() + s.services.size() + s.gateways.size() +
         s.authorization_policies.size() + s.peer_authentications.size() +
         s.request_authentications.size() + s.destination_rules.size() + s.routes.size() +
         s.slices.size();
}

ConfigErrors MeshModel::pendingErrors() const {
  std::map<std::string, ConfigErrors> by_object;
  for (const auto& [key, pod] : state_->pods) {
    if (!pod.pending.empty()) by_object[pod.object] = pod.pending;
  }
  for (const auto& [key, route] : state_->routes) {
    if (!route.pending.empty()) by_object[route.object] = route.pending;
  }
  ConfigErrors out;
  for (auto& [object, errors] : by_object) out.insert(out.end(), errors.begin(), errors.end());
  return out;
}

}  // namespace ambit::config
