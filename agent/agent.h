#pragma once
// ambit-agent: the node agent. Reads the configuration (local mode: a directory of
// Kubernetes-shaped YAML, hot-reloaded; Kubernetes mode: ambit-control, see kube_mode.h), decides
// which pods on its node are enrolled, drives the eBPF capture data path (pinned under <pin dir>,
// adopted across restarts), hands pods to the ztunnel, runs the node's embedded CA (certificate
// service on a unix socket) and serves /healthz/ready, /metrics and /config_dump.
//
// Threads: run() drives one io_context (the control thread: config, reconcile, admin); the
// hand-off server and the gRPC CA server have their own threads (see their headers).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::agent {

struct AgentOptions {
  std::string node;
  std::string config_dir;
  std::string cgroup_path;  // cgroup v2 subtree holding this node's pods
  std::string pin_dir;      // default /sys/fs/bpf/ambit/<node>
  std::string state_dir;    // CA root; default /var/lib/ambit/<node>
  std::string run_dir;      // sockets; default /run/ambit/<node>
  std::string trust_domain = "cluster.local";
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 15030;
  std::vector<std::string> probe_sources;  // node IPs kubelet probes come from
  uint32_t max_cert_ttl_seconds = 24 * 3600;
  // /metrics and /healthz/ready on their own listener (reachable by a Prometheus on the pod
  // network) while the admin dumps stay on admin_address; port 0: served with the admin.
  std::string metrics_address = "0.0.0.0";
  uint16_t metrics_port = 0;

  // Kubernetes mode (kube_mode.h): mesh and certificates from ambit-control, pods found by
  // their kubelet cgroup. Local mode's config_dir and cgroup_path are then not used.
  bool kubernetes = false;
  std::string kubeconfig;  // empty: in-cluster
  std::string discovery_address;
  std::string control_ca;
  std::string token_file;
  std::string kubelet_cgroup_root = "/";  // the kubelet's --cgroup-root
  std::string cgroup_driver = "auto";     // cgroupfs | systemd | auto
  std::string proc_root = "/proc";        // the host's /proc (e.g. /host/proc in a container)
  // NAMESPACE/NAME of the DaemonSet running this agent: when it is gone at SIGTERM (uninstall),
  // the pinned capture is removed instead of kept for the next agent (uninstall.h).
  std::string daemonset;

  std::string handoffSocket() const { return run_dir + "/ztunnel.sock"; }
  std::string caSocket() const { return run_dir + "/ca.sock"; }
  std::string discoverySocket() const { return run_dir + "/discovery.sock"; }
};

// Fills defaults that depend on other fields and validates; errors name the flag.
Status finalizeOptions(AgentOptions& options);

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> create(AgentOptions options);
  ~Agent();

  // Runs until stop().
  void run();
  // Thread-safe: makes run() return.
  void stop();

  // Removes every kernel object and file an agent for `options.node` ever created.
  static Status cleanup(const AgentOptions& options);
  // Removes the node's capture (pinned programs, maps and links: the programs detach) and the
  // sockets' directory; the state directory stays (in a container it is a host mount).
  static Status removeCapture(const AgentOptions& options);

  struct Impl;

 private:
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ambit::agent
