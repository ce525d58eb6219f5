#pragma once
// What PodReconciler drives to put a pod in the mesh or take it out, as small interfaces so
// the reconciler can be tested with fakes:
//   PodCapture     the eBPF capture: outbound per netns cookie, inbound (sk_lookup) per pod id
//   PodNetns       a network namespace: opened by path, its cookie, the reply routing in it
//   NetnsResolver  which namespace is the pod's: the annotation's path (local mode,
//                  AnnotationNetnsResolver) or found from the pod's processes (Kubernetes mode,
//                  KubePodNetns in kube_pod_netns.h)
//   PodHandoff     the hand-off of the pod to the node's ztunnel(s)
// Production: DatapathPodCapture over bpf::CaptureDatapath, HostPodNetns over common/netns.h
// and inbound_routing.h, HandoffServer (implements PodHandoff itself).
//
// Thread: the agent's control thread (PodReconciler's); PodHandoff is thread-safe.
// Lifetime: the agent owns the implementations; they outlive the reconciler.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/enrollment.h"
#include "common/bpf/addr.h"
#include "common/bpf/capture_datapath.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::agent {

struct HandoffPod;

class PodCapture {
 public:
  virtual ~PodCapture() = default;
  // Outbound capture for one pod netns (see bpf::CaptureDatapath).
  virtual Status enrollNetns(uint64_t netns_cookie, const bpf::NetnsConfig& config) = 0;
  virtual Status unenrollNetns(uint64_t netns_cookie) = 0;
  virtual Result<std::vector<uint64_t>> enrolledNetns() const = 0;
  // Inbound steering for one pod (id: PodReconciler::podId).
  virtual Status attachInbound(const std::string& pod_id, int netns_fd,
                               const std::vector<bpf::IpAddr>& pod_ips,
                               const bpf::PodConfig& config) = 0;
  virtual Status detachInbound(const std::string& pod_id) = 0;
  virtual Result<std::vector<std::string>> inboundPods() const = 0;
};

class PodNetns {
 public:
  virtual ~PodNetns() = default;
  virtual Result<UniqueFd> open(const std::string& path) = 0;
  virtual Result<uint64_t> cookie(int netns_fd) = 0;
  // Reply routing for source-preserving inbound (inbound_routing.h); both idempotent.
  virtual Status installReplyRouting(int netns_fd) = 0;
  virtual Status removeReplyRouting(int netns_fd) = 0;
};

class NetnsResolver {
 public:
  virtual ~NetnsResolver() = default;
  // Why the pod must never be enrolled (e.g. hostNetwork: it has no netns of its own), or
  // nullopt. Not a failure: logged once, not retried.
  virtual std::optional<std::string> excluded(const EnrolledPod&) { return std::nullopt; }
  // A handle of the pod's network namespace; nullopt when it does not exist yet (the pod is
  // retried soon, and this is not an error); an error when it cannot or must not be used.
  virtual Result<std::optional<UniqueFd>> resolve(const EnrolledPod& pod) = 0;
  // A pod in the mesh that cannot be enrolled yet (no IP yet): refuse its connects until it is
  // (fail closed), if this resolver can. false: not possible yet (its cgroup does not exist),
  // ask again soon. released() ends the hold.
  virtual bool hold(const v1::Workload&) { return true; }
  // The pod is captured now / is leaving the mesh (or gone): per-pod state can be dropped.
  // released() comes before the pod's capture is removed.
  virtual void captured(const v1::Workload&) {}
  virtual void released(const std::string& /*uid*/) {}
  // The first reconcile after start has resolved every pod of the plan: what a previous agent
  // left for pods no longer in the plan can go.
  virtual void adopted() {}
};

// Local mode: the path from the annotation ambit.dev/netns (EnrolledPod::netns_path).
class AnnotationNetnsResolver final : public NetnsResolver {
 public:
  explicit AnnotationNetnsResolver(PodNetns& netns) : netns_(netns) {}
  Result<std::optional<UniqueFd>> resolve(const EnrolledPod& pod) override;

 private:
  PodNetns& netns_;
};

class PodHandoff {
 public:
  virtual ~PodHandoff() = default;
  // Hands the pod to every ztunnel (again, if its info changed); returns at once.
  virtual void upsert(HandoffPod pod) = 0;
  virtual void remove(const std::string& uid) = 0;
};

class DatapathPodCapture final : public PodCapture {
 public:
  explicit DatapathPodCapture(bpf::CaptureDatapath& datapath) : datapath_(datapath) {}
  Status enrollNetns(uint64_t netns_cookie, const bpf::NetnsConfig& config) override;
  Status unenrollNetns(uint64_t netns_cookie) override;
  Result<std::vector<uint64_t>> enrolledNetns() const override;
  Status attachInbound(const std::string& pod_id, int netns_fd,
                       const std::vector<bpf::IpAddr>& pod_ips,
                       const bpf::PodConfig& config) override;
  Status detachInbound(const std::string& pod_id) override;
  Result<std::vector<std::string>> inboundPods() const override;

 private:
  bpf::CaptureDatapath& datapath_;
};

class HostPodNetns final : public PodNetns {
 public:
  Result<UniqueFd> open(const std::string& path) override;
  Result<uint64_t> cookie(int netns_fd) override;
  Status installReplyRouting(int netns_fd) override;
  Status removeReplyRouting(int netns_fd) override;
};

}  // namespace ambit::agent
