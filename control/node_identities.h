#pragma once
// The CA's authorization rules for Kubernetes mode (Istio's node-impersonation rule):
//   - the node agent (the chart's node ServiceAccount, holding a pod-bound token) may obtain the
//     identity of any service account that has a pod scheduled on the agent's own node, and
//     nothing else;
//   - any other caller (a waypoint, ambit-control itself) only its own identity.
// NodeIdentities is the index the rule needs: which (namespace, service account) has a pod on
// which node, kept from ambit-control's pod watch.
//
// Thread-safety: NodeIdentities is written by the config thread and read by gRPC handler
// threads; every method takes its lock.

#include <map>
#include <mutex>
#include <string>

#include "common/identity/spiffe.h"
#include "common/status.h"
#include "control/token_review.h"

namespace ambit::control {

class NodeIdentities {
 public:
  // A pod (by uid) is on `node` with service account ns/sa; node empty = not scheduled yet.
  void upsertPod(const std::string& uid, const std::string& node, const std::string& ns,
                 const std::string& service_account);
  void removePod(const std::string& uid);

  bool hasPod(const std::string& node, const std::string& ns,
              const std::string& service_account) const;
  // The node of the pod with this uid; "" when unknown or unscheduled.
  std::string nodeOfPod(const std::string& uid) const;
  size_t size() const;

 private:
  struct Pod {
    std::string node, ns, service_account;
  };
  void unindexLocked(const Pod& pod);

  mutable std::mutex mu_;
  std::map<std::string, Pod> pods_;                            // by uid
  std::map<std::string, std::map<std::string, int>> by_node_;  // node -> "ns/sa" -> pods
};

struct CsrRules {
  std::string trust_domain = "cluster.local";
  std::string node_agent_namespace = "ambit-system";
  std::string node_agent_service_account = "ambit-agent";
};

// Ok when `caller` may obtain `id`; otherwise an error (kNotAllowed) saying exactly why.
Status authorizeIdentity(const Principal& caller, const identity::SpiffeId& id,
                         const NodeIdentities& pods, const CsrRules& rules);

}  // namespace ambit::control
