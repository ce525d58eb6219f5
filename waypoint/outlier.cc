#include "waypoint/outlier.h"

#include <algorithm>

#include "common/log.h"

namespace ambit::waypoint {
namespace {

constexpr auto kMaxEjection = std::chrono::seconds(300);

}  // namespace

size_t OutlierDetector::ejectedCount(const std::string& host, Clock::time_point now) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return 0;
  return static_cast<size_t>(
      std::count_if(it->second.begin(), it->second.end(),
                    [now](const auto& e) { return e.second.ejected_until > now; }));
}

bool OutlierDetector::ejected(const std::string& host, const v1::Workload& endpoint,
                              Clock::time_point now) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return false;
  auto e = it->second.find(endpoint.uid());
  return e != it->second.end() && e->second.ejected_until > now;
}

void OutlierDetector::record(const std::string& host, const v1::TrafficPolicy& policy,
                             const v1::Workload& endpoint, size_t host_endpoints, bool failed,
                             Clock::time_point now) {
  if (!policy.outlier_detection() || policy.outlier_consecutive_5xx() == 0) return;
  if (!failed) {
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;
    auto e = it->second.find(endpoint.uid());
    if (e != it->second.end()) e->second.consecutive_failures = 0;
    return;
  }
  State& s = hosts_[host][endpoint.uid()];
  if (s.ejected_until > now) return;  // a request that was already in flight
  if (++s.consecutive_failures < policy.outlier_consecutive_5xx()) return;
  const size_t already = ejectedCount(host, now);
  if (already > 0 &&
      (already + 1) * 100 > static_cast<size_t>(policy.outlier_max_ejection_percent()) *
                                std::max<size_t>(host_endpoints, 1)) {
    return;  // would eject more than maxEjectionPercent: stays in the pool
  }
  s.consecutive_failures = 0;
  ++s.times_ejected;
  ++ejections_total_;
  auto duration = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(policy.outlier_ejection_ms()) * s.times_ejected, kMaxEjection);
  s.ejected_until = now + duration;
  logInfo(
      "outlier detection: {} endpoint {} ejected for {} ms ({} consecutive errors, ejection #{})",
      host, endpoint.name(), duration.count(), policy.outlier_consecutive_5xx(), s.times_ejected);
}

void OutlierDetector::filter(const std::string& host, const v1::TrafficPolicy& policy,
                             std::vector<const v1::Workload*>& candidates, Clock::time_point now) {
  if (!policy.outlier_detection() || candidates.empty() || !hosts_.count(host)) return;
  std::vector<const v1::Workload*> healthy;
  healthy.reserve(candidates.size());
  for (const auto* w : candidates) {
    if (!ejected(host, *w, now)) healthy.push_back(w);
  }
  if (healthy.size() == candidates.size()) return;
  // Panic: too few healthy candidates left, so ejections are ignored (Envoy's panic threshold).
  if (healthy.empty() ||
      healthy.size() * 100 < policy.outlier_min_health_percent() * candidates.size()) {
    return;
  }
  candidates = std::move(healthy);
}

}  // namespace ambit::waypoint
