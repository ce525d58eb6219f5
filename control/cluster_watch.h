#pragma once
// ClusterWatch: ambit-control's view of the cluster. One Reflector per watched type feeds:
//   - the incremental MeshModel (config/mesh_model.h): each object event updates only the mesh
//     entries it affects; a bad object keeps its last good version and gets a Kubernetes Event
//     naming the field and the reason, a log line and a metric;
//   - the discovery ResourceStore: the model's delta is pushed a few milliseconds after a burst
//     of events (coalesced), and the store is marked ready only once every type has been listed
//     (a replica never serves a partial mesh, which clients would take for the truth);
//   - NodeIdentities (pods per node, for the CA), WaypointIdentities, the waypoint objects of
//     each waypoint Gateway, and the root-certificate ConfigMap in every namespace (watched too:
//     one deleted or changed is put back; a failed write is retried while the namespace lives).
//
// Thread: everything runs on the kube io_context (one thread), including translation: no data
// thread exists in ambit-control, and gRPC threads only read the store.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config/mesh_model.h"
#include "common/discovery/resource_store.h"
#include "common/kube/reflector.h"
#include "control/caller_auth.h"
#include "control/control_metrics.h"
#include "control/kube_writes.h"
#include "control/node_identities.h"
#include "control/waypoint_deployer.h"

namespace ambit::control {

struct ClusterWatchOptions {
  config::LoaderOptions loader;  // trust domain, root namespace, cluster domain
  std::string root_cert_configmap = "ambit-ca-root-cert";
  std::string root_cert_pem;  // published in every namespace
  std::chrono::milliseconds push_debounce{10};
  kube::ReflectorOptions reflector;
  // Optional: told of each push (the store's version), each rejected object and each failed
  // Kubernetes write. Must outlive the ClusterWatch.
  ControlMetrics* health = nullptr;
};

// The types ambit-control watches for the mesh, in the order they are listed at start.
const std::vector<kube::ResourceType>& watchedTypes();
// Also watched: its root certificate ConfigMaps (by name, in every namespace).
const kube::ResourceType& rootCertConfigMaps();

class ClusterWatch final : public kube::ReflectorHandler {
 public:
  ClusterWatch(kube::ApiClient& api, std::shared_ptr<discovery::ResourceStore> store,
               NodeIdentities& pods, WaypointIdentities& waypoints, WaypointDeployer& deployer,
               EventRecorder& events, prometheus::Registry& metrics, ClusterWatchOptions options);
  ~ClusterWatch() override;

  // Starts every reflector on the ApiClient's executor.
  void start();
  void stop();
  // Every type listed (or not served by the API server) and the first state pushed.
  bool ready() const { return ready_; }
  size_t objectCount() const { return model_.objectCount(); }

  void onUpsert(const kube::ResourceType& type, const nlohmann::json& object) override;
  void onDelete(const kube::ResourceType& type, const nlohmann::json& object) override;
  void onSynced(const kube::ResourceType& type) override;

 private:
  void schedulePush();
  void push();
  void sideEffects(const kube::ResourceType& type, const nlohmann::json& object, bool deleted);
  void checkReady();
  // Events for objects that became pending (or pending for another reason) since the last call.
  void reportPending();
  void noteRouteChange(const kube::ResourceType& type);
  // Creates or repairs the root certificate ConfigMap in `ns`; retried while `ns` lives.
  void publishRootCert(const std::string& ns);
  void onRootCertConfigMap(const nlohmann::json& object, bool deleted);
  void writeFailed(std::string_view kind) {
    if (options_.health) options_.health->writeFailed(kind);
  }

  kube::ApiClient& api_;
  std::shared_ptr<discovery::ResourceStore> store_;
  NodeIdentities& pods_;
  WaypointIdentities& waypoints_;
  WaypointDeployer& deployer_;
  EventRecorder& events_;
  ClusterWatchOptions options_;
  config::MeshModel model_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;
  boost::asio::steady_timer push_timer_;
  boost::asio::steady_timer ready_timer_;
  bool push_scheduled_ = false;
  bool routes_changed_ = false;  // since the last push
  bool ready_ = false;
  bool stopped_ = false;
  std::set<std::string> live_namespaces_;        // not terminating: they get the root certificate
  std::map<std::string, std::string> pod_uids_;  // "ns/name" -> uid
  std::set<std::string> waypoint_gateways_;      // "ns/name"
  std::map<std::string, std::string> object_uids_;  // "<Kind> ns/name" -> uid, for Events
  std::map<std::string, std::string> pending_;      // "<Kind> ns/name" -> why, as reported

  prometheus::Family<prometheus::Counter>& events_total_;
  prometheus::Family<prometheus::Counter>& rejected_total_;
  prometheus::Family<prometheus::Gauge>& resources_;
  prometheus::Counter& pushes_;
  prometheus::Counter& push_resources_;
};

}  // namespace ambit::control
