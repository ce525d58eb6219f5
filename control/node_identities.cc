#include "control/node_identities.h"

#include <fmt/format.h>

#include "common/identity/signer.h"

namespace ambit::control {
namespace {

std::string key(const std::string& ns, const std::string& sa) { return ns + "/" + sa; }

Error notAllowed(std::string why) { return Error{identity::kNotAllowed, std::move(why)}; }

}  // namespace

void NodeIdentities::unindexLocked(const Pod& pod) {
  if (pod.node.empty()) return;
  auto& ids = by_node_[pod.node];
  const std::string k = key(pod.ns, pod.service_account);
  if (--ids[k] == 0) ids.erase(k);
  if (ids.empty()) by_node_.erase(pod.node);
}

void NodeIdentities::upsertPod(const std::string& uid, const std::string& node,
                               const std::string& ns, const std::string& service_account) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  if (it != pods_.end()) {
    const Pod& old = it->second;
    if (old.node == node && old.ns == ns && old.service_account == service_account) return;
    unindexLocked(old);
  }
  pods_[uid] = Pod{node, ns, service_account};
  if (!node.empty()) ++by_node_[node][key(ns, service_account)];
}

void NodeIdentities::removePod(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  const Pod& old = it->second;
  unindexLocked(old);
  pods_.erase(it);
}

bool NodeIdentities::hasPod(const std::string& node, const std::string& ns,
                            const std::string& service_account) const {
  std::lock_guard lock(mu_);
  auto it = by_node_.find(node);
  return it != by_node_.end() && it->second.count(key(ns, service_account)) > 0;
}

std::string NodeIdentities::nodeOfPod(const std::string& uid) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  return it == pods_.end() ? "" : it->second.node;
}

size_t NodeIdentities::size() const {
  std::lock_guard lock(mu_);
  return pods_.size();
}

Status authorizeIdentity(const Principal& caller, const identity::SpiffeId& id,
                         const NodeIdentities& pods, const CsrRules& rules) {
  if (id.trustDomain != rules.trust_domain) {
    return notAllowed(fmt::format("trust domain '{}' is not this mesh's ('{}')", id.trustDomain,
                                  rules.trust_domain));
  }
  const bool node_agent = caller.ns == rules.node_agent_namespace &&
                          caller.service_account == rules.node_agent_service_account;
  if (!node_agent) {
    if (id.ns == caller.ns && id.serviceAccount == caller.service_account) return Status::ok();
    return notAllowed(fmt::format("caller {} may only obtain its own identity, not {}/{}",
                                  caller.identity(), id.ns, id.serviceAccount));
  }
  std::string node = caller.node;
  if (node.empty() && !caller.pod_uid.empty()) node = pods.nodeOfPod(caller.pod_uid);
  if (node.empty()) {
    return notAllowed(fmt::format(
        "node agent token ({}) is not bound to a scheduled pod, so its node is unknown; mount a "
        "projected service-account token",
        caller.identity()));
  }
  if (!pods.hasPod(node, id.ns, id.serviceAccount)) {
    return notAllowed(
        fmt::format("no pod of service account {}/{} is scheduled on node {} (the "
                    "caller's node)",
                    id.ns, id.serviceAccount, node));
  }
  return Status::ok();
}

}  // namespace ambit::control
