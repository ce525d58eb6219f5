#pragma once
// What the node agent adds in Kubernetes mode (`ambit-agent --kubernetes`), beside the local-
// mode machinery it shares (capture data path, reconciler, hand-off, CA socket):
//   - the mesh comes from ambit-control (discovery::DiscoverySource, persisted under the state
//     directory so a restart while the control plane is down resumes), and is relayed to the
//     node's ztunnel on <run dir>/discovery.sock;
//   - certificates: the CA socket forwards CSRs to ambit-control (ForwardingSigner);
//   - pods of this node are watched directly (kube_node_pods.h) and found on the host without a
//     CNI plugin: kubelet pod cgroup → a process in it → its netns, checked to hold the pod IP
//     (kube_pod_netns.h); marked for fail-closed capture as soon as their cgroup exists;
//   - enrolled pods get Istio's annotation ambient.istio.io/redirection=enabled.
//
// Thread: the agent's loop thread (the io_context given), except the relay push (any thread).

#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "agent/agent.h"
#include "agent/pod_datapath.h"
#include "common/bpf/capture_datapath.h"
#include "common/config/source.h"
#include "common/identity/signer.h"
#include "common/status.h"

namespace ambit::agent {

class KubeMode {
 public:
  // `on_pods_changed` runs on the loop thread when a pod of this node changes (reconcile).
  static Result<std::unique_ptr<KubeMode>> start(boost::asio::io_context& io,
                                                 const AgentOptions& options,
                                                 bpf::CaptureDatapath& datapath,
                                                 prometheus::Registry& registry,
                                                 std::function<void()> on_pods_changed);
  ~KubeMode();

  // The cgroup subtree holding the node's pods (where capture attaches): the kubelet's root.
  static Result<std::string> podCgroupRoot(const AgentOptions& options);

  NetnsResolver& resolver();
  // The mesh source (hand it to the config pipeline once).
  std::unique_ptr<config::ConfigSource> takeConfigSource();
  std::shared_ptr<identity::CertificateSigner> signer();
  // Serves `snapshot` to the node's ztunnel(s). Thread-safe.
  void relay(const v1::MeshSnapshot& snapshot);
  // The node's pods have been listed (before that, no pod is known: do not reconcile).
  bool podsSynced() const;
  // For /config_dump and metrics.
  std::string describe() const;
  void stop();

  struct Impl;

 private:
  explicit KubeMode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ambit::agent
