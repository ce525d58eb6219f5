#include "ztunnel/connection_limits.h"

#include "common/log.h"

namespace ambit::ztunnel {

struct ConnectionLimits::Lease::Counts {
  std::map<std::string, size_t> by_pod;  // by pod uid; entries with 0 are erased
  size_t node = 0;
};

ConnectionLimits::ConnectionLimits(ConnectionCaps caps, prometheus::Registry* registry)
    : caps_(caps), counts_(std::make_shared<Lease::Counts>()) {
  if (registry == nullptr) return;
  auto& family = prometheus::BuildCounter()
                     .Name("ambit_ztunnel_connections_refused_total")
                     .Help("Connections refused because a per-pod or per-node cap was reached")
                     .Register(*registry);
  refused_pod_ = &family.Add({{"reason", "pod_limit"}});
  refused_node_ = &family.Add({{"reason", "node_limit"}});
}

std::optional<ConnectionLimits::Lease> ConnectionLimits::admit(const std::string& pod_uid) {
  if (counts_->node >= caps_.per_node) {
    if (refused_node_ != nullptr) refused_node_->Increment();
    refuse(pod_uid, "node_limit");
    return std::nullopt;
  }
  size_t& pod_open = counts_->by_pod[pod_uid];
  if (pod_open >= caps_.per_pod) {
    if (refused_pod_ != nullptr) refused_pod_->Increment();
    refuse(pod_uid, "pod_limit");
    return std::nullopt;
  }
  ++pod_open;
  ++counts_->node;
  return Lease(counts_, pod_uid);
}

void ConnectionLimits::refuse(const std::string& pod_uid, const char* reason) {
  ++refused_;
  if (auto it = counts_->by_pod.find(pod_uid); it != counts_->by_pod.end() && it->second == 0) {
    counts_->by_pod.erase(it);
  }
  const auto now = std::chrono::steady_clock::now();
  auto [it, first] = last_log_.try_emplace(pod_uid, now);
  if (!first && now - it->second < kLogInterval) return;
  it->second = now;
  logWarn(
      "pod {}: connection refused ({}): {} open for the pod (cap {}), {} on the node (cap {}); "
      "raise --max-connections-per-pod / --max-connections-per-node if this load is expected",
      pod_uid, reason, open(pod_uid), caps_.per_pod, counts_->node, caps_.per_node);
}

size_t ConnectionLimits::open(const std::string& pod_uid) const {
  auto it = counts_->by_pod.find(pod_uid);
  return it == counts_->by_pod.end() ? 0 : it->second;
}

size_t ConnectionLimits::openOnNode() const { return counts_->node; }

ConnectionLimits::Lease& ConnectionLimits::Lease::operator=(Lease&& other) noexcept {
  if (this == &other) return *this;
  release();
  counts_ = std::move(other.counts_);
  pod_ = std::move(other.pod_);
  return *this;
}

void ConnectionLimits::Lease::release() {
  if (!counts_) return;
  auto it = counts_->by_pod.find(pod_);
  if (it != counts_->by_pod.end() && --it->second == 0) counts_->by_pod.erase(it);
  --counts_->node;
  counts_.reset();
}

}  // namespace ambit::ztunnel
