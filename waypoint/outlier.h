#pragma once
// Outlier detection (DestinationRule trafficPolicy.outlierDetection), Envoy's consecutive-5xx
// algorithm: an endpoint that answers `consecutive5xxErrors` times in a row with a 5xx (or
// cannot be reached / times out) is ejected at once, for baseEjectionTime × the number of
// times it has been ejected (at most 300 s, Envoy's max_ejection_time), provided no more than
// maxEjectionPercent of the host's endpoints are ejected already (the first ejection always
// happens). Ejected endpoints are left out of load balancing unless none or fewer than
// minHealthPercent of the candidates remain (panic: every candidate is used).
//
// Thread model: one detector per Router (one data thread); no locking.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ambit/v1/route.pb.h"
#include "ambit/v1/workload.pb.h"

namespace ambit::waypoint {

class OutlierDetector {
 public:
  using Clock = std::chrono::steady_clock;

  // The outcome of one exchange with `endpoint` of `host` (`host_endpoints` endpoints in all).
  void record(const std::string& host, const v1::TrafficPolicy& policy,
              const v1::Workload& endpoint, size_t host_endpoints, bool failed,
              Clock::time_point now = Clock::now());
  // Removes ejected endpoints from `candidates` (in place, order kept) unless that would leave
  // fewer than the policy's minHealthPercent.
  void filter(const std::string& host, const v1::TrafficPolicy& policy,
              std::vector<const v1::Workload*>& candidates, Clock::time_point now = Clock::now());
  bool ejected(const std::string& host, const v1::Workload& endpoint,
               Clock::time_point now = Clock::now()) const;
  uint64_t ejections() const { return ejections_total_; }

 private:
  struct State {
    uint32_t consecutive_failures = 0;
    uint32_t times_ejected = 0;
    Clock::time_point ejected_until{};
  };
  size_t ejectedCount(const std::string& host, Clock::time_point now) const;

  std::map<std::string, std::map<std::string, State>> hosts_;  // host -> workload uid -> state
  uint64_t ejections_total_ = 0;
};

}  // namespace ambit::waypoint
