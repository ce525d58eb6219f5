#pragma once
// Waypoints on demand, like Istio's gateway controller: for every Gateway whose class is
// `istio-waypoint` or `ambit-waypoint`, ambit-control keeps a ServiceAccount, a Deployment
// running ambit-waypoint and a Service (HBONE 15008) named after the Gateway, each owned by the
// Gateway (ownerReferences: the garbage collector removes them with it; ambit-control also
// deletes them itself when it sees the Gateway go, so a cluster without the garbage collector
// running behaves the same). The Gateway's status gets the Service's address, which is how
// ztunnels find the waypoint.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/kube/api_client.h"
#include "common/status.h"

namespace ambit::control {

struct WaypointTemplate {
  std::string image = "localhost/ambit/ambit-waypoint:latest";
  std::string image_pull_policy = "IfNotPresent";
  std::string control_address = "ambit-control.ambit-system.svc:15012";
  std::string root_cert_configmap = "ambit-ca-root-cert";
  std::string token_audience = "ambit";
  std::string trust_domain = "cluster.local";
  int replicas = 1;
  // Trace export of created waypoints (empty: none): --zipkin-address / --otlp-endpoint.
  std::string zipkin_address;
  std::string otlp_endpoint;
  // The waypoint's stop: after SIGTERM it keeps accepting this long while its readiness fails
  // (--shutdown-delay-ms: the ztunnels learn that the pod is terminating meanwhile), then lets
  // open tunnels run this long (--drain-ms). The pod's terminationGracePeriodSeconds covers
  // both plus kTerminationMarginSeconds.
  std::chrono::seconds shutdown_delay{5};
  std::chrono::seconds drain{5};
};

// What a waypoint pod's terminationGracePeriodSeconds gives beyond its shutdown delay and drain
// (the waypoint's own last resort, ambit::Daemon::kDrainGrace, is 5 s past them).
inline constexpr int kTerminationMarginSeconds = 10;

bool isWaypointClass(const std::string& gateway_class);

// The objects for one Gateway (ServiceAccount, Deployment, Service), in creation order.
// Fails, naming the Gateway, when it lacks a name, namespace or uid.
Result<std::vector<nlohmann::json>> waypointObjects(const nlohmann::json& gateway,
                                                    const WaypointTemplate& t);

class WaypointDeployer {
 public:
  WaypointDeployer(kube::ApiClient& api, WaypointTemplate t);

  // Brings the Gateway's objects (and its status address) to the desired state.
  boost::asio::awaitable<Status> apply(const nlohmann::json& gateway);
  // The Gateway is gone: removes its objects.
  boost::asio::awaitable<Status> remove(const std::string& ns, const std::string& name);

 private:
  boost::asio::awaitable<Status> publishAddress(const nlohmann::json& gateway);

  kube::ApiClient& api_;
  WaypointTemplate template_;
};

}  // namespace ambit::control
