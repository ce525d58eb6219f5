#include "common/admin/health_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/admin/metrics.h"
#include "tests/support/prometheus.h"

namespace ambit::admin {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

class HealthMetricsTest : public ::testing::Test {
 protected:
  std::string scrape() const { return renderMetrics(registry_); }
  prometheus::Registry registry_;
  HealthMetrics health_{registry_};
};

TEST_F(HealthMetricsTest, OnlyTheVersionInForceIsListed) {
  system_clock::time_point at(seconds(1764800000));
  health_.configApplied("abc123", at);
  health_.configApplied("def456", at + seconds(5));
  health_.configRejected();
  std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "ambit_config_info", {{"version", "def456"}}), 1.0) << text;
  EXPECT_FALSE(test::metricValue(text, "ambit_config_info", {{"version", "abc123"}})) << text;
  EXPECT_EQ(test::metricValue(text, "ambit_config_applied_total"), 2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_config_rejected_total"), 1.0);
  EXPECT_EQ(test::metricValue(text, "ambit_config_last_applied_timestamp_seconds"), 1764800005.0);
}

TEST_F(HealthMetricsTest, OneExpirySeriesPerIdentityHeld) {
  const std::string a = "spiffe://cluster.local/ns/default/sa/a";
  const std::string b = "spiffe://cluster.local/ns/default/sa/b";
  health_.certificateExpiry(a, system_clock::time_point(seconds(1000)));
  health_.certificateExpiry(a, system_clock::time_point(seconds(2000)));  // rotated
  health_.certificateExpiry(b, system_clock::time_point(seconds(3000)));
  std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "istio_cert_expiry_seconds", {{"identity", a}}), 2000.0);
  EXPECT_EQ(test::metricValue(text, "istio_cert_expiry_seconds", {{"identity", b}}), 3000.0);

  health_.certificates({{b, system_clock::time_point(seconds(4000))}});
  text = scrape();
  EXPECT_FALSE(test::metricValue(text, "istio_cert_expiry_seconds", {{"identity", a}})) << text;
  EXPECT_EQ(test::metricValue(text, "istio_cert_expiry_seconds", {{"identity", b}}), 4000.0);
  health_.certificateDropped(b);
  health_.certificateDropped(b);  // twice is harmless
  EXPECT_EQ(test::metricSum(scrape(), "istio_cert_expiry_seconds"), 0.0);
}

TEST_F(HealthMetricsTest, DiscoveryStateFollowsAbsoluteCounts) {
  health_.xdsState(true, {{"ConnectionError", 2}});
  health_.xdsState(false, {{"ConnectionError", 3}, {"Error", 1}});
  health_.xdsState(false, {{"ConnectionError", 3}, {"Error", 1}});  // no change: no increment
  std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "ambit_xds_connected"), 0.0);
  EXPECT_EQ(test::metricValue(text, "istio_xds_connection_terminations_total",
                              {{"reason", "ConnectionError"}}),
            3.0);
  EXPECT_EQ(
      test::metricValue(text, "istio_xds_connection_terminations_total", {{"reason", "Error"}}),
      1.0);
  health_.xdsState(true, {});
  EXPECT_EQ(test::metricValue(scrape(), "ambit_xds_connected"), 1.0);
}

TEST_F(HealthMetricsTest, FailuresCountedByDirectionAndReason) {
  health_.connectionFailed("inbound", "policy_denied");
  health_.connectionFailed("inbound", "policy_denied");
  health_.connectionFailed("outbound", "upstream_connect");
  health_.handoffConnected(1);
  std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "ambit_connection_failures_total",
                              {{"direction", "inbound"}, {"reason", "policy_denied"}}),
            2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_connection_failures_total",
                              {{"direction", "outbound"}, {"reason", "upstream_connect"}}),
            1.0);
  EXPECT_EQ(test::metricValue(text, "ambit_handoff_connected"), 1.0);
}

TEST(MetricsHandler, RefreshRunsBeforeEachRendering) {
  auto registry = std::make_shared<prometheus::Registry>();
  HealthMetrics health(*registry);
  int refreshed = 0;
  Handler h = metricsHandler(registry, [&] { health.handoffConnected(++refreshed); });
  EXPECT_EQ(test::metricValue(h(Request{}).body, "ambit_handoff_connected"), 1.0);
  EXPECT_EQ(test::metricValue(h(Request{}).body, "ambit_handoff_connected"), 2.0);
}

}  // namespace
}  // namespace ambit::admin
