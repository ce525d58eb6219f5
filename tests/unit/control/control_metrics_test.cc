// ambit-control's health metrics: CertificateService outcomes under istiod's citadel_* names and
// by refusal reason, the root certificate's expiry, configuration pushes and failed writes.
#include "control/control_metrics.h"

#include <gtest/gtest.h>

#include "common/admin/metrics.h"
#include "common/identity/ca.h"
#include "tests/support/prometheus.h"

namespace ambit::control {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

class ControlMetricsTest : public ::testing::Test {
 protected:
  std::string scrape() const { return admin::renderMetrics(registry_); }
  prometheus::Registry registry_;
  ControlMetrics metrics_{registry_};
};

TEST_F(ControlMetricsTest, EveryCsrIsCountedAndEachRefusalByItsReason) {
  using identity::CsrOutcome;
  for (auto o : {CsrOutcome::kSigned, CsrOutcome::kSigned, CsrOutcome::kSigned,
                 CsrOutcome::kUnauthenticated, CsrOutcome::kNotAllowed, CsrOutcome::kNotAllowed,
                 CsrOutcome::kBadRequest, CsrOutcome::kUnavailable, CsrOutcome::kSignerFailure}) {
    metrics_.csr(o);
  }
  const std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "citadel_server_csr_count"), 9.0) << text;
  EXPECT_EQ(test::metricValue(text, "citadel_server_success_cert_issuance_count"), 3.0);
  EXPECT_EQ(test::metricValue(text, "citadel_server_authentication_failure_count"), 1.0);
  EXPECT_EQ(test::metricValue(text, "citadel_server_csr_parsing_err_count"), 1.0);
  EXPECT_EQ(test::metricValue(text, "citadel_server_csr_sign_err_count"), 1.0);
  EXPECT_EQ(test::metricValue(text, "ambit_ca_csr_refused_total", {{"reason", "not_allowed"}}),
            2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_ca_csr_refused_total", {{"reason", "unavailable"}}),
            1.0);
  EXPECT_EQ(test::metricSum(text, "ambit_ca_csr_refused_total"), 6.0);
}

TEST_F(ControlMetricsTest, RefusalReasonsAreListedAtZeroBeforeAnyCall) {
  const std::string text = scrape();
  for (const char* reason :
       {"unauthenticated", "not_allowed", "bad_request", "unavailable", "signer_failure"}) {
    EXPECT_EQ(test::metricValue(text, "ambit_ca_csr_refused_total", {{"reason", reason}}), 0.0)
        << reason << "\n"
        << text;
  }
}

TEST_F(ControlMetricsTest, RootExpiryIsTheRootsNotAfterAndTheSecondsLeftFollowTheClock) {
  const system_clock::time_point issued(seconds(1796400000));
  identity::EmbeddedCaOptions o;
  o.trustDomain = "cluster.local";
  o.rootValidity = std::chrono::hours(24 * 365);
  o.clock = [issued] { return issued; };
  auto material = identity::EmbeddedCa::generateMaterial(o);
  ASSERT_TRUE(material) << material.error().message;
  ASSERT_TRUE(metrics_.rootCertificates(material->rootPem));
  const double not_after = 1796400000.0 + 365 * 24 * 3600;
  std::string text = scrape();
  // Within the minute of backdating a CA may apply to notBefore; notAfter is exact.
  EXPECT_EQ(test::metricValue(text, "citadel_server_root_cert_expiry_timestamp"), not_after)
      << text;
  metrics_.refresh(issued + std::chrono::hours(24));
  text = scrape();
  EXPECT_EQ(test::metricValue(text, "citadel_server_root_cert_expiry_seconds"), 364.0 * 24 * 3600);
}

TEST_F(ControlMetricsTest, ABundleThatIsNotPemIsAnErrorAndChangesNothing) {
  auto st = metrics_.rootCertificates("not a certificate");
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("root certificate expiry"), std::string::npos) << st.message();
  EXPECT_EQ(test::metricValue(scrape(), "citadel_server_root_cert_expiry_timestamp"), 0.0);
}

TEST_F(ControlMetricsTest, PushesSetTheConfigVersionAndFailedWritesCountByKind) {
  const system_clock::time_point at(seconds(1796400000));
  metrics_.configPushed(7, at);
  metrics_.configPushed(9, at + seconds(3));
  metrics_.objectRejected();
  metrics_.writeFailed("ConfigMap");
  metrics_.writeFailed("ConfigMap");
  metrics_.writeFailed("Event");
  const std::string text = scrape();
  EXPECT_EQ(test::metricValue(text, "ambit_config_info", {{"version", "9"}}), 1.0) << text;
  EXPECT_FALSE(test::metricValue(text, "ambit_config_info", {{"version", "7"}}));
  EXPECT_EQ(test::metricValue(text, "ambit_config_applied_total"), 2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_config_last_applied_timestamp_seconds"), 1796400003.0);
  EXPECT_EQ(test::metricValue(text, "ambit_config_rejected_total"), 1.0);
  // ambit-control is no discovery client: no ambit_xds_connected reading 0 to trip an alert.
  EXPECT_FALSE(test::metricValue(text, "ambit_xds_connected"));
  EXPECT_EQ(test::metricValue(text, "ambit_control_write_errors_total", {{"kind", "ConfigMap"}}),
            2.0);
  EXPECT_EQ(test::metricValue(text, "ambit_control_write_errors_total", {{"kind", "Event"}}), 1.0);
}

TEST(CsrOutcome, SignerAndAuthorizerErrorsMapToTheirOutcome) {
  using identity::CsrOutcome;
  EXPECT_EQ(identity::csrOutcomeOf(Error{identity::kBadRequest, ""}), CsrOutcome::kBadRequest);
  EXPECT_EQ(identity::csrOutcomeOf(Error{identity::kNotAllowed, ""}), CsrOutcome::kNotAllowed);
  EXPECT_EQ(identity::csrOutcomeOf(Error{identity::kUnauthenticated, ""}),
            CsrOutcome::kUnauthenticated);
  EXPECT_EQ(identity::csrOutcomeOf(Error{EAGAIN, ""}), CsrOutcome::kUnavailable);
  EXPECT_EQ(identity::csrOutcomeOf(Error{identity::kSignerFailure, ""}),
            CsrOutcome::kSignerFailure);
}

}  // namespace
}  // namespace ambit::control
