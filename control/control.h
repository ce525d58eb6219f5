#pragma once
// ambit-control: the Kubernetes-mode control plane (DESIGN.md §9, docs/kubernetes.md).
//   - watches the cluster (cluster_watch.h) and translates it incrementally;
//   - serves delta discovery and the CertificateService on one gRPC port over TLS, every caller
//     authenticated by a TokenReview of its projected token (caller_auth.h);
//   - runs the CA from a Secret (ca_secret.h) and publishes the root in every namespace;
//   - deploys waypoints for Gateways of the waypoint class (waypoint_deployer.h);
//   - serves /metrics, /ready and /healthz on the monitoring port.
// Replicas are independent (each watches and serves everything; the CA Secret is shared), so
// any number can run behind the Service and a client fails over between them.
//
// Threads: the kube thread (run()) does all Kubernetes I/O, translation and monitoring; gRPC
// owns the serving threads.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "control/waypoint_deployer.h"

namespace ambit::control {

struct ControlOptions {
  std::string kubeconfig;  // empty: in-cluster configuration
  std::string ns = "ambit-system";
  std::string instance;  // this replica's name (pod name) for Events; default: hostname
  std::string listen = "0.0.0.0:15012";
  std::string monitoring_address = "0.0.0.0";
  uint16_t monitoring_port = 15014;
  std::string trust_domain = "cluster.local";
  std::string root_namespace = "istio-system";
  std::string cluster_domain = "cluster.local";
  std::string ca_secret = "ambit-ca";
  std::string plugin_ca_secret = "cacerts";
  std::string root_cert_configmap = "ambit-ca-root-cert";
  std::string token_audience = "ambit";
  std::string service_account = "ambit-control";  // its own (serving certificate identity)
  std::string node_agent_service_account = "ambit-agent";
  std::vector<std::string> server_names;  // DNS SANs; default ambit-control.<ns>.svc[.<domain>]
  std::chrono::hours serving_cert_ttl{24 * 365};
  std::chrono::seconds max_workload_cert_ttl{24 * 3600};
  std::chrono::milliseconds push_debounce{10};
  WaypointTemplate waypoint;  // control_address defaults to ambit-control.<ns>.svc:<port>
};

class Control {
 public:
  // Connects to the API server, loads or creates the CA (retrying while the API server is
  // unreachable, for up to `startup_timeout`), and starts serving. A broken CA Secret, bad
  // flags or an unusable listen address fail here, with the reason.
  static Result<std::unique_ptr<Control>> create(
      ControlOptions options, std::chrono::seconds startup_timeout = std::chrono::seconds(120));
  ~Control();

  // Runs the kube thread until stop().
  void run();
  // Any thread: stops serving (clients fail over to another replica) and ends run().
  void stop();

  // The bound discovery port (tests listen on port 0).
  int port() const;
  uint16_t monitoringPort() const;

  struct Impl;

 private:
  explicit Control(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ambit::control
