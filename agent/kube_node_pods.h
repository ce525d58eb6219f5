#pragma once
// This node's pods, watched straight from the API server (list + watch with the field selector
// spec.nodeName=<node>), so the agent knows a pod's uid and QoS class (hence its cgroup) as
// soon as it is scheduled here, before the mesh config from ambit-control mentions it, and
// knows what the cgroup lookup needs that the mesh model does not carry (QoS class,
// hostNetwork).
//
// A Pod the agent cannot use (no uid, a bad IP, a bad qosClass) is rejected: logged with the
// field and reason, counted, and its last good version (if any) stays.
//
// Thread: run(), stop() and every accessor on the ApiClient's executor (the reflector's).

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/kubelet_cgroup.h"
#include "common/bpf/addr.h"
#include "common/kube/reflector.h"

namespace ambit::agent {

struct NodePod {
  std::string uid;  // metadata.uid
  std::string name_space;
  std::string name;
  std::string node;  // spec.nodeName
  QosClass qos = QosClass::kUnknown;
  std::string phase;             // status.phase ("" before the kubelet reports it)
  std::vector<bpf::IpAddr> ips;  // status.podIPs (else status.podIP); empty until assigned
  std::map<std::string, std::string> labels;
  bool host_network = false;  // spec.hostNetwork
  bool deleting = false;      // metadata.deletionTimestamp is set

  std::string key() const { return name_space + "/" + name; }
  bool operator==(const NodePod&) const = default;
};

// Decodes what the agent needs of a Pod object. Every error names the field.
Result<NodePod> parseNodePod(const nlohmann::json& pod);

// Lookup of this node's pods by uid (the netns resolver's view; fakes in tests).
class NodePodSource {
 public:
  virtual ~NodePodSource() = default;
  virtual std::optional<NodePod> pod(const std::string& uid) const = 0;
};

struct KubeNodePodsStats {
  uint64_t rejected = 0;  // Pod objects that failed parseNodePod
  std::string last_rejection;
};

class KubeNodePods final : public NodePodSource, private kube::ReflectorHandler {
 public:
  // Called after a pod was added, changed or deleted (uid), and with an empty uid after every
  // complete list (the first one makes the set trustworthy: changes seen while listing came
  // before synced() and may have been ignored), on the reflector's executor.
  using ChangeFn = std::function<void(const std::string& uid)>;

  // `options.field_selector` is set to spec.nodeName=<node>. `client` must outlive this.
  KubeNodePods(kube::ApiClient& client, std::string node, ChangeFn on_change,
               kube::ReflectorOptions options = {});

  // Lists and watches until stop().
  boost::asio::awaitable<void> run() { return reflector_.run(); }
  void stop() { reflector_.stop(); }

  std::optional<NodePod> pod(const std::string& uid) const override;
  std::vector<NodePod> pods() const;
  // A complete list has been applied (until then, absence proves nothing).
  bool synced() const { return reflector_.synced(); }
  const KubeNodePodsStats& stats() const { return stats_; }
  const kube::ReflectorStats& reflectorStats() const { return reflector_.stats(); }

 private:
  void onUpsert(const kube::ResourceType& type, const nlohmann::json& object) override;
  void onDelete(const kube::ResourceType& type, const nlohmann::json& object) override;
  void onSynced(const kube::ResourceType& type) override;

  std::string node_;
  ChangeFn on_change_;
  kube::Reflector reflector_;
  std::map<std::string, NodePod> by_key_;    // "<namespace>/<name>"
  std::map<std::string, std::string> keys_;  // uid -> key
  KubeNodePodsStats stats_;
};

}  // namespace ambit::agent
