#include "control/cluster_watch.h"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async/spawn.h"
#include "common/discovery/service_membership.h"
#include "common/log.h"

namespace ambit::control {
namespace {

using json = nlohmann::json;

std::string str(const json& object, const char* a, const char* b) {
  auto x = object.find(a);
  if (x == object.end() || !x->is_object()) return "";
  auto y = x->find(b);
  return y != x->end() && y->is_string() ? y->get<std::string>() : "";
}

std::string errorsText(const config::ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.reason;
  }
  return out;
}

bool finishedPod(const json& pod) {
  const std::string phase = str(pod, "status", "phase");
  return phase == "Succeeded" || phase == "Failed";
}

constexpr std::chrono::seconds kRootCertRetry{5};

}  // namespace

const kube::ResourceType& rootCertConfigMaps() {
  static const kube::ResourceType type{"", "v1", "configmaps", "ConfigMap", true};
  return type;
}

const std::vector<kube::ResourceType>& watchedTypes() {
  static const std::vector<kube::ResourceType> types = {
      {"", "v1", "namespaces", "Namespace", false},
      {"", "v1", "pods", "Pod", true},
      {"", "v1", "services", "Service", true},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true},
      {"security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", true},
      {"security.istio.io", "v1", "peerauthentications", "PeerAuthentication", true},
      {"security.istio.io", "v1", "requestauthentications", "RequestAuthentication", true},
      {"networking.istio.io", "v1", "virtualservices", "VirtualService", true},
      {"networking.istio.io", "v1", "destinationrules", "DestinationRule", true},
      {"gateway.networking.k8s.io", "v1", "gateways", "Gateway", true},
      {"gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", true},
  };
  return types;
}

ClusterWatch::ClusterWatch(kube::ApiClient& api, std::shared_ptr<discovery::ResourceStore> store,
                           NodeIdentities& pods, WaypointIdentities& waypoints,
                           WaypointDeployer& deployer, EventRecorder& events,
                           prometheus::Registry& metrics, ClusterWatchOptions options)
    : api_(api),
      store_(std::move(store)),
      pods_(pods),
      waypoints_(waypoints),
      deployer_(deployer),
      events_(events),
      options_(std::move(options)),
      model_(options_.loader),
      push_timer_(api.executor()),
      ready_timer_(api.executor()),
      events_total_(prometheus::BuildCounter()
                        .Name("ambit_control_object_events_total")
                        .Help("Kubernetes object events applied to the mesh model, by kind and "
                              "outcome (applied, pending, rejected, ignored, deleted)")
                        .Register(metrics)),
      rejected_total_(prometheus::BuildCounter()
                          .Name("ambit_control_rejected_objects_total")
                          .Help("Object versions ambit rejected (the last good version stays)")
                          .Register(metrics)),
      resources_(prometheus::BuildGauge()
                     .Name("ambit_control_mesh_resources")
                     .Help("Mesh resources served, by type")
                     .Register(metrics)),
      pushes_(prometheus::BuildCounter()
                  .Name("ambit_control_pushes_total")
                  .Help("Model deltas pushed to the discovery store")
                  .Register(metrics)
                  .Add({})),
      push_resources_(prometheus::BuildCounter()
                          .Name("ambit_control_pushed_resources_total")
                          .Help("Resources upserted or removed by those pushes")
                          .Register(metrics)
                          .Add({})) {}

ClusterWatch::~ClusterWatch() { stop(); }

void ClusterWatch::start() {
  for (const auto& type : watchedTypes()) {
    reflectors_.push_back(std::make_unique<kube::Reflector>(api_, type, *this, options_.reflector));
    spawn(api_.executor(), reflectors_.back()->run(), "reflector");
  }
  // The root certificate ConfigMaps ambit-control publishes, so that one deleted or changed is
  // put back.
  kube::ReflectorOptions configmaps = options_.reflector;
  configmaps.field_selector = "metadata.name=" + options_.root_cert_configmap;
  reflectors_.push_back(
      std::make_unique<kube::Reflector>(api_, rootCertConfigMaps(), *this, configmaps));
  spawn(api_.executor(), reflectors_.back()->run(), "reflector");
  checkReady();
}

void ClusterWatch::stop() {
  stopped_ = true;
  for (auto& r : reflectors_) r->stop();
  push_timer_.cancel();
  ready_timer_.cancel();
}

void ClusterWatch::onUpsert(const kube::ResourceType& type, const json& object) {
  if (type.qualifiedName() == rootCertConfigMaps().qualifiedName()) {
    onRootCertConfigMap(object, false);
    return;
  }
  auto result = model_.upsert(object, type.kind, type.apiVersion());
  events_total_
      .Add({{"kind", type.kind}, {"outcome", std::string(config::outcomeName(result.outcome))}})
      .Increment();
  const std::string uid = str(object, "metadata", "uid");
  if (!result.object.empty() && !uid.empty()) object_uids_[result.object] = uid;
  if (result.outcome == config::UpsertOutcome::kRejected ||
      result.outcome == config::UpsertOutcome::kPending) {
    const bool rejected = result.outcome == config::UpsertOutcome::kRejected;
    const std::string note = errorsText(result.errors);
    if (rejected) {
      rejected_total_.Add({{"kind", type.kind}}).Increment();
      if (options_.health) options_.health->objectRejected();
    }
    if (!rejected) pending_[result.object] = note;  // reported here, not again by reportPending
    logWarn("{} {}: {}", result.object,
            rejected ? "rejected (its last good version stays)" : "waiting for what it references",
            note);
    json regarding = object;
    regarding["apiVersion"] = type.apiVersion();
    regarding["kind"] = type.kind;
    spawn(
        api_.executor(),
        [this, regarding = std::move(regarding), rejected, note]() -> boost::asio::awaitable<void> {
          auto st = co_await events_.record(regarding, "Warning",
                                            rejected ? "InvalidConfiguration" : "Pending", note);
          if (!st) {
            logWarn("cannot record an Event: {}", st.message());
            writeFailed("Event");
          }
        },
        "record event");
  } else if (result.outcome == config::UpsertOutcome::kApplied && !uid.empty()) {
    events_.forget(uid);  // fixed: a later mistake gets its own Event again
  }
  sideEffects(type, object, false);
  noteRouteChange(type);
  schedulePush();
}

void ClusterWatch::noteRouteChange(const kube::ResourceType& type) {
  if (type.kind == "DestinationRule" || type.kind == "VirtualService" || type.kind == "HTTPRoute") {
    routes_changed_ = true;
  }
}

void ClusterWatch::onDelete(const kube::ResourceType& type, const json& object) {
  if (type.qualifiedName() == rootCertConfigMaps().qualifiedName()) {
    onRootCertConfigMap(object, true);
    return;
  }
  const std::string ns = str(object, "metadata", "namespace");
  const std::string name = str(object, "metadata", "name");
  model_.remove(type.kind, type.namespaced ? ns : "", name);
  object_uids_.erase(type.namespaced ? fmt::format("{} {}/{}", type.kind, ns, name)
                                     : fmt::format("{} {}", type.kind, name));
  events_total_.Add({{"kind", type.kind}, {"outcome", "deleted"}}).Increment();
  sideEffects(type, object, true);
  noteRouteChange(type);
  schedulePush();
}

void ClusterWatch::onSynced(const kube::ResourceType&) { checkReady(); }

void ClusterWatch::sideEffects(const kube::ResourceType& type, const json& object, bool deleted) {
  const std::string ns = str(object, "metadata", "namespace");
  const std::string name = str(object, "metadata", "name");
  const std::string key = ns + "/" + name;
  if (type.kind == "Pod") {
    // A delete found by a relist carries only the name: keep uids by name.
    auto known = pod_uids_.find(key);
    if (deleted || finishedPod(object)) {
      if (known != pod_uids_.end()) {
        pods_.removePod(known->second);
        events_.forget(known->second);
        pod_uids_.erase(known);
      }
      return;
    }
    const std::string uid = str(object, "metadata", "uid");
    if (uid.empty()) return;
    if (known != pod_uids_.end() && known->second != uid) pods_.removePod(known->second);
    pod_uids_[key] = uid;
    std::string sa = str(object, "spec", "serviceAccountName");
    if (sa.empty()) sa = "default";
    pods_.upsertPod(uid, str(object, "spec", "nodeName"), ns, sa);
  } else if (type.kind == "Namespace") {
    if (deleted || str(object, "status", "phase") == "Terminating") {
      live_namespaces_.erase(name);
      return;
    }
    if (live_namespaces_.insert(name).second) publishRootCert(name);
  } else if (type.kind == "Gateway") {
    const bool waypoint = !deleted && isWaypointClass(str(object, "spec", "gatewayClassName"));
    const bool had = waypoint_gateways_.count(key) > 0;
    waypoints_.set(ns, name, waypoint);
    if (waypoint) {
      waypoint_gateways_.insert(key);
      json gateway = object;
      gateway["apiVersion"] = type.apiVersion();
      spawn(
          api_.executor(),
          [this, gateway = std::move(gateway), key]() -> boost::asio::awaitable<void> {
            auto st = co_await deployer_.apply(gateway);
            if (!st) {
              logWarn("waypoint {}: {}", key, st.message());
              writeFailed("Waypoint");
            }
          },
          "deploy waypoint");
    } else if (had) {
      waypoint_gateways_.erase(key);
      spawn(
          api_.executor(),
          [this, ns, name]() -> boost::asio::awaitable<void> {
            auto st = co_await deployer_.remove(ns, name);
            if (!st) {
              logWarn("waypoint {}/{}: {}", ns, name, st.message());
              writeFailed("Waypoint");
            }
          },
          "remove waypoint");
    }
  }
}

void ClusterWatch::publishRootCert(const std::string& ns) {
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", options_.root_cert_configmap},
               {"namespace", ns},
               {"labels", {{"app.kubernetes.io/managed-by", "ambit-control"}}}}},
             {"data", {{"root-cert.pem", options_.root_cert_pem}}}};
  spawn(
      api_.executor(),
      [this, cm = std::move(cm), ns]() -> boost::asio::awaitable<void> {
        auto wrote = co_await ensureObject(api_, rootCertConfigMaps(), cm);
        if (wrote) co_return;
        writeFailed("ConfigMap");
        logWarn("cannot publish the root certificate in namespace {} (retrying in {} s): {}", ns,
                kRootCertRetry.count(), wrote.error().message);
        boost::asio::steady_timer retry(api_.executor(), kRootCertRetry);
        boost::system::error_code ec;
        co_await retry.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (!ec && !stopped_ && live_namespaces_.count(ns) > 0) publishRootCert(ns);
      },
      "publish root cert");
}

void ClusterWatch::onRootCertConfigMap(const json& object, bool deleted) {
  // Deleted or edited by someone else: put it back (the namespace's pods mount it).
  const std::string ns = str(object, "metadata", "namespace");
  if (live_namespaces_.count(ns) == 0) return;
  if (deleted || str(object, "data", "root-cert.pem") != options_.root_cert_pem) {
    publishRootCert(ns);
  }
}

void ClusterWatch::schedulePush() {
  if (push_scheduled_) return;
  push_scheduled_ = true;
  push_timer_.expires_after(options_.push_debounce);
  push_timer_.async_wait([this](boost::system::error_code ec) {
    push_scheduled_ = false;
    if (!ec) push();
  });
}

void ClusterWatch::reportPending() {
  // Objects another object's change made pending (a DestinationRule dropping a subset a
  // VirtualService routes to) get their Event here; an object's own pending upsert got it in
  // onUpsert().
  std::map<std::string, std::string> now;
  for (const auto& e : model_.pendingErrors()) {
    std::string& note = now[e.object];
    if (!note.empty()) note += "; ";
    note += e.reason;
  }
  for (const auto& [object, note] : now) {
    auto before = pending_.find(object);
    if (before != pending_.end() && before->second == note) continue;
    // "<Kind> <namespace>/<name>"
    const size_t space = object.find(' ');
    const size_t slash = object.find('/', space);
    if (space == std::string::npos || slash == std::string::npos) continue;
    const std::string kind = object.substr(0, space);
    std::string api_version;
    for (const auto& type : watchedTypes()) {
      if (type.kind == kind) api_version = type.apiVersion();
    }
    auto uid = object_uids_.find(object);
    json regarding = {{"apiVersion", api_version},
                      {"kind", kind},
                      {"metadata",
                       {{"namespace", object.substr(space + 1, slash - space - 1)},
                        {"name", object.substr(slash + 1)},
                        {"uid", uid == object_uids_.end() ? "" : uid->second}}}};
    logWarn("{} waits for what it references: {}", object, note);
    spawn(
        api_.executor(),
        [this, regarding = std::move(regarding), note = note]() -> boost::asio::awaitable<void> {
          auto st = co_await events_.record(regarding, "Warning", "Pending", note);
          if (!st) {
            logWarn("cannot record an Event: {}", st.message());
            writeFailed("Event");
          }
        },
        "record event");
  }
  pending_ = std::move(now);
}

void ClusterWatch::push() {
  // Only a route-related change can make another object pending (a DestinationRule dropping a
  // subset); pods become pending only through their own upsert, reported there. Skipping the
  // scan keeps a pod event's cost independent of the number of pods.
  if (routes_changed_) reportPending();
  routes_changed_ = false;
  config::MeshDelta delta = model_.takeDelta();
  if (delta.empty()) return;
  size_t count = 0;
  for (config::MeshType type : config::kMeshTypes) {
    const auto& changes = delta.of(type);
    if (changes.upserted.empty() && changes.removed.empty()) continue;
    std::vector<discovery::ResourceUpsert> upserts;
    upserts.reserve(changes.upserted.size());
    for (const auto& [name, message] : changes.upserted) {
      upserts.push_back(discovery::meshUpsert(type, name, *message));
    }
    count += upserts.size() + changes.removed.size();
    store_->update(type, std::move(upserts), changes.removed);
    resources_.Add({{"type", std::string(config::typeName(type))}})
        .Set(static_cast<double>(model_.size(type)));
  }
  pushes_.Increment();
  push_resources_.Increment(static_cast<double>(count));
  if (options_.health) options_.health->configPushed(store_->systemVersion());
}

void ClusterWatch::checkReady() {
  if (ready_) return;
  for (const auto& r : reflectors_) {
    if (!r->synced() && !r->stats().not_served) {
      // A type neither listed nor known to be absent: look again shortly.
      ready_timer_.expires_after(std::chrono::milliseconds(200));
      ready_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) checkReady();
      });
      return;
    }
  }
  push_timer_.cancel();
  push_scheduled_ = false;
  push();
  store_->markReady();
  ready_ = true;
  logInfo("cluster state loaded ({} objects); serving discovery", model_.objectCount());
}

}  // namespace ambit::control
