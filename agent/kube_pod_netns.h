#pragma once
// Kubernetes mode's NetnsResolver: a pod's network namespace found from the pod itself, with no
// annotation and no CNI plugin:
//   uid + QoS class (KubeNodePods: this node's pods from the API server)
//     → the pod's cgroup (KubeletCgroups, both kubelet cgroup drivers)
//     → a process in it → its /proc/<pid>/ns/net, checked to hold the pod IPs (ProcNetnsFinder).
// A pod not yet in the node watch, without a cgroup or without a process yet is "not yet"
// (the reconciler retries it quickly); a hostNetwork pod is excluded (never enrolled, logged
// once by the reconciler).
//
// Fail closed (optional PodCgroupMarker): the pod's cgroup is marked as soon as it exists, so
// the connect hook refuses the pod's connects until its netns is enrolled (abi.h,
// AMBIT_MAP_POD_CGROUPS): from hold(), while the pod has no IP yet (the kubelet creates the
// cgroup before the sandbox, and reports the IP only after the app may have started), or from
// resolve(). The mark goes in released(), which the reconciler calls before it de-enrolls the
// netns or when a held pod goes away.
//
// It also measures the time from the pod's first process to "captured" (outbound capture on)
// as the histogram ambit_agent_pod_enroll_seconds (and a log line per pod).
//
// Thread: the reconciler's (the agent's loop, which must also be KubeNodePods' executor).

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "agent/kube_node_pods.h"
#include "agent/kubelet_cgroup.h"
#include "agent/pod_datapath.h"
#include "agent/pod_netns_finder.h"
#include "common/bpf/capture_datapath.h"

namespace ambit::agent {

// The fail-closed marks of pod cgroups (production: DatapathPodCgroupMarker).
class PodCgroupMarker {
 public:
  virtual ~PodCgroupMarker() = default;
  virtual Result<uint64_t> cgroupId(const std::string& cgroup_dir) = 0;
  virtual Status mark(uint64_t cgroup_id) = 0;
  virtual Status unmark(uint64_t cgroup_id) = 0;
  virtual Result<std::vector<uint64_t>> marked() = 0;
};

class DatapathPodCgroupMarker final : public PodCgroupMarker {
 public:
  explicit DatapathPodCgroupMarker(bpf::CaptureDatapath& datapath) : datapath_(datapath) {}
  Result<uint64_t> cgroupId(const std::string& cgroup_dir) override {
    return bpf::CaptureDatapath::cgroupId(cgroup_dir);
  }
  Status mark(uint64_t cgroup_id) override { return datapath_.markPodCgroup(cgroup_id); }
  Status unmark(uint64_t cgroup_id) override { return datapath_.unmarkPodCgroup(cgroup_id); }
  Result<std::vector<uint64_t>> marked() override;

 private:
  bpf::CaptureDatapath& datapath_;
};

// CLOCK_BOOTTIME: the clock of /proc/<pid>/stat start times.
std::chrono::nanoseconds boottimeNow();

class KubePodNetns final : public NetnsResolver {
 public:
  using Clock = std::function<std::chrono::nanoseconds()>;
  // Called when a pod's capture starts (true) or it leaves the mesh (false): the place to
  // write or remove the redirection annotation (redirection_annotator.h).
  using CaptureChangeFn = std::function<void(const std::string& uid, const std::string& name_space,
                                             const std::string& name, bool captured)>;

  // Every reference must outlive this object. The histogram is registered in `registry`.
  // Without a marker, pods are not held back before enrollment.
  KubePodNetns(const NodePodSource& pods, const PodCgroupLocator& cgroups, PodNetnsFinder& finder,
               prometheus::Registry& registry, CaptureChangeFn on_change = {},
               Clock now = boottimeNow, PodCgroupMarker* marker = nullptr);

  std::optional<std::string> excluded(const EnrolledPod& pod) override;
  Result<std::optional<UniqueFd>> resolve(const EnrolledPod& pod) override;
  bool hold(const v1::Workload& w) override;
  void captured(const v1::Workload& workload) override;
  void released(const std::string& uid) override;
  // Removes marks a previous agent left for pods that are not in the plan any more (a pod that
  // left the mesh while no agent ran must not stay held back).
  void adopted() override;

  // The pid the namespace of a resolved pod was taken from (for dumps); 0 when unknown.
  pid_t pidOf(const std::string& uid) const;

 private:
  struct Found {
    std::chrono::nanoseconds first_process_start{0};  // 0 once measured
    pid_t pid = 0;
    std::string name_space, name;
  };

  const NodePodSource& pods_;
  const PodCgroupLocator& cgroups_;
  PodNetnsFinder& finder_;
  void markCgroup(const v1::Workload& w, const std::string& dir);

  CaptureChangeFn on_change_;
  Clock now_;
  PodCgroupMarker* marker_;
  std::map<std::string, uint64_t> marked_;  // uid -> marked cgroup id
  prometheus::Histogram* latency_;
  std::map<std::string, Found> found_;  // by uid, from resolve() until released()
};

}  // namespace ambit::agent
