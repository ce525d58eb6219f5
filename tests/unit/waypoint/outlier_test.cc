// OutlierDetector: Envoy's consecutive-5xx ejection, its growing ejection time, the
// maxEjectionPercent cap and the panic rule, on an explicit clock.
#include "waypoint/outlier.h"

#include <gtest/gtest.h>

namespace ambit::waypoint {
namespace {

using namespace std::chrono_literals;
using Clock = OutlierDetector::Clock;

v1::TrafficPolicy policy(uint32_t consecutive, uint32_t ejection_ms, uint32_t max_percent,
                         uint32_t min_health = 0) {
  v1::TrafficPolicy p;
  p.set_outlier_detection(true);
  p.set_outlier_consecutive_5xx(consecutive);
  p.set_outlier_ejection_ms(ejection_ms);
  p.set_outlier_max_ejection_percent(max_percent);
  p.set_outlier_min_health_percent(min_health);
  return p;
}

std::vector<v1::Workload> workloads(int n) {
  std::vector<v1::Workload> out(n);
  for (int i = 0; i < n; ++i) {
    out[i].set_uid("uid-" + std::to_string(i));
    out[i].set_name("w" + std::to_string(i));
  }
  return out;
}

std::vector<const v1::Workload*> all(const std::vector<v1::Workload>& ws) {
  std::vector<const v1::Workload*> out;
  for (const auto& w : ws) out.push_back(&w);
  return out;
}

TEST(OutlierDetector, EjectsAfterConsecutiveFailuresOnlyAndReturnsAfterTheEjectionTime) {
  OutlierDetector d;
  auto p = policy(3, 1000, 100);
  auto ws = workloads(2);
  const auto t0 = Clock::now();
  d.record("h", p, ws[0], 2, true, t0);
  d.record("h", p, ws[0], 2, true, t0);
  d.record("h", p, ws[0], 2, false, t0);  // a success resets the count
  d.record("h", p, ws[0], 2, true, t0);
  d.record("h", p, ws[0], 2, true, t0);
  EXPECT_FALSE(d.ejected("h", ws[0], t0));
  d.record("h", p, ws[0], 2, true, t0);
  EXPECT_TRUE(d.ejected("h", ws[0], t0));
  EXPECT_FALSE(d.ejected("h", ws[1], t0));
  EXPECT_FALSE(d.ejected("other-host", ws[0], t0));
  auto c = all(ws);
  d.filter("h", p, c, t0 + 999ms);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], &ws[1]);
  c = all(ws);
  d.filter("h", p, c, t0 + 1000ms);
  EXPECT_EQ(c.size(), 2u);
  // The second ejection lasts twice as long.
  for (int i = 0; i < 3; ++i) d.record("h", p, ws[0], 2, true, t0 + 2s);
  EXPECT_TRUE(d.ejected("h", ws[0], t0 + 3999ms));
  EXPECT_FALSE(d.ejected("h", ws[0], t0 + 4s));
  EXPECT_EQ(d.ejections(), 2u);
}

TEST(OutlierDetector, MaxEjectionPercentCapsEjectionsButTheFirstAlwaysHappens) {
  OutlierDetector d;
  auto p = policy(1, 30000, 10);  // Istio's default cap: 10%
  auto ws = workloads(3);
  const auto t0 = Clock::now();
  d.record("h", p, ws[0], 3, true, t0);
  d.record("h", p, ws[1], 3, true, t0);
  d.record("h", p, ws[2], 3, true, t0);
  EXPECT_TRUE(d.ejected("h", ws[0], t0));
  EXPECT_FALSE(d.ejected("h", ws[1], t0));
  EXPECT_FALSE(d.ejected("h", ws[2], t0));
  EXPECT_EQ(d.ejections(), 1u);
}

TEST(OutlierDetector, PanicUsesEveryCandidateWhenTooFewAreHealthy) {
  OutlierDetector d;
  auto p = policy(1, 30000, 100, 50);
  auto ws = workloads(3);
  const auto t0 = Clock::now();
  d.record("h", p, ws[0], 3, true, t0);
  auto c = all(ws);
  d.filter("h", p, c, t0);
  EXPECT_EQ(c.size(), 2u);  // 2 of 3 healthy: above 50%
  d.record("h", p, ws[1], 3, true, t0);
  c = all(ws);
  d.filter("h", p, c, t0);
  EXPECT_EQ(c.size(), 3u);  // 1 of 3 healthy: below 50%, ejections ignored
  // Every candidate ejected: all are used rather than none.
  auto p0 = policy(1, 30000, 100, 0);
  OutlierDetector d2;
  for (const auto& w : ws) d2.record("h", p0, w, 3, true, t0);
  c = all(ws);
  d2.filter("h", p0, c, t0);
  EXPECT_EQ(c.size(), 3u);
}

TEST(OutlierDetector, DisabledPolicyNeverEjects) {
  OutlierDetector d;
  v1::TrafficPolicy off;
  auto ws = workloads(2);
  for (int i = 0; i < 100; ++i) d.record("h", off, ws[0], 2, true);
  EXPECT_FALSE(d.ejected("h", ws[0]));
  EXPECT_EQ(d.ejections(), 0u);
}

}  // namespace
}  // namespace ambit::waypoint
