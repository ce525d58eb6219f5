// ambit_hbone_timeouts_total (admin::hboneTimeoutCounter): every reason listed from the start at
// 0, each counted on its own.
#include <gtest/gtest.h>

#include "common/admin/metrics.h"
#include "tests/support/prometheus.h"

namespace ambit::admin {
namespace {

TEST(HboneTimeoutCounterTest, ListsEveryReasonAtZeroAndCountsEachOnItsOwn) {
  prometheus::Registry registry;
  auto count = hboneTimeoutCounter(registry);
  std::string text = renderMetrics(registry);
  for (const char* reason : {"handshake", "header", "send_stall"}) {
    EXPECT_EQ(test::metricValue(text, "ambit_hbone_timeouts_total", {{"reason", reason}}), 0.0)
        << reason << "\n"
        << text;
  }
  count("send_stall");
  count("send_stall");
  count("header");
  text = renderMetrics(registry);
  EXPECT_EQ(test::metricValue(text, "ambit_hbone_timeouts_total", {{"reason", "send_stall"}}), 2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_hbone_timeouts_total", {{"reason", "header"}}), 1.0);
  EXPECT_EQ(test::metricValue(text, "ambit_hbone_timeouts_total", {{"reason", "handshake"}}), 0.0);
}

}  // namespace
}  // namespace ambit::admin
