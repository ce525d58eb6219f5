#pragma once
// Drives the kernel and the ztunnel towards the enrollment plan: for each enrolled pod on this
// node, outbound capture for its netns, inbound steering (sk_lookup) for its IPs, and a
// hand-off to the ztunnel; for each pod that left, the reverse, so it is back on plain
// networking. A pod that fails (missing netns, a map full) is reported by name and retried on
// the next reconcile; the other pods are unaffected.
//
// It reaches the kernel and the ztunnel only through PodCapture, PodNetns, NetnsResolver and
// PodHandoff (pod_datapath.h). A pod whose namespace does not exist yet (Kubernetes mode: the
// kubelet has not started its sandbox) is pending, not failed: listed in stats().pending and
// enrolled by a later reconcile, which the caller should run soon (kPendingRetry). A pod still
// waiting for its IP (EnrollmentPlan::awaiting_ip) is held by the resolver (its connects
// refused) as soon as that is possible, and pending until then.
//
// On the first reconcile after start it adopts what a previous agent pinned: entries and links
// for desired pods are updated in place (no gap), leftovers are removed.
//
// Thread: the agent's control thread only. enrolledIdentities() is safe from any thread.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/enrollment.h"
#include "agent/handoff_server.h"
#include "agent/pod_datapath.h"
#include "common/bpf/addr.h"

namespace ambit::agent {

struct ReconcileStats {
  uint64_t enrolled_pods = 0;
  uint64_t pod_errors = 0;  // cumulative failed pod operations
  std::vector<std::string> last_problems;
  std::vector<std::string> pending;  // uids waiting for their network namespace
};

// How soon a reconcile with pending pods should be repeated.
inline constexpr std::chrono::milliseconds kPendingRetry{100};

class PodReconciler {
 public:
  // The capture, netns, hand-off and resolver implementations must outlive the reconciler.
  // Without a resolver, a pod's netns is its annotation's path (local mode).
  PodReconciler(PodCapture& capture, PodNetns& netns, PodHandoff& handoff,
                std::vector<bpf::IpAddr> probe_sources, NetnsResolver* resolver = nullptr);

  // Applies the plan; returns the problems of this round (also logged).
  std::vector<std::string> reconcile(const EnrollmentPlan& plan);

  // The ztunnel acked the pod (its listeners are up): outbound capture starts now, never
  // before, so no captured connection meets a closed 15001. (Pods found captured in the pins
  // of a previous agent stay captured throughout.)
  void onServed(const std::string& uid);

  ReconcileStats stats() const;
  // Who may get a certificate from this node's CA: NodeConfig::identities (the service accounts
  // of every pod scheduled on the node, enrolled or not: a waypoint pod is not captured but
  // speaks HBONE). The set replaced is released outside the lock.
  void setNodeIdentities(std::shared_ptr<const std::set<std::string>> identities);
  bool mayHaveIdentity(const std::string& ns, const std::string& sa) const;

  // The pin/pod id of a workload uid (bpffs names cannot hold '/' or '.').
  static std::string podId(const std::string& uid);

 private:
  struct Applied {
    EnrolledPod pod;
    std::shared_ptr<const UniqueFd> netns;
    uint64_t netns_cookie = 0;
    bpf::NetnsConfig outbound;
    bool capturing = false;  // outbound capture on for netns_cookie
    bool served = false;     // acked by the ztunnel
  };

  Status add(const EnrolledPod& pod);
  Status remove(const std::string& uid);
  void removeLeftovers(const EnrollmentPlan& plan);  // first reconcile only
  Status startCapture(const std::string& uid, Applied& a);

  PodCapture& capture_;
  PodNetns& netns_;
  PodHandoff& handoff_;
  AnnotationNetnsResolver annotation_resolver_;
  NetnsResolver& resolver_;
  std::set<std::string> pending_;   // resolver: not yet
  std::set<std::string> held_;      // awaiting their IP, held by the resolver
  std::set<std::string> excluded_;  // resolver: never (logged once)
  std::vector<bpf::IpAddr> probe_sources_;
  std::map<std::string, Applied> applied_;
  bool adopted_ = false;
  uint64_t pod_errors_ = 0;
  std::vector<std::string> last_problems_;

  mutable std::mutex identities_mu_;
  std::shared_ptr<const std::set<std::string>> identities_;  // guarded by identities_mu_
};

}  // namespace ambit::agent
