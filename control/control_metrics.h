#pragma once
// ambit-control's own health on /metrics (15014), named as Istio's istiod names its metrics
// where it has an equivalent, else ambit_*:
//
// Certificates (the CertificateService; istiod's citadel_server_*):
//   citadel_server_csr_count                       counter  CreateCertificate calls received
//   citadel_server_success_cert_issuance_count     counter  certificates signed
//   citadel_server_authentication_failure_count    counter  callers whose token was refused
//   citadel_server_csr_parsing_err_count           counter  malformed or unacceptable CSRs
//   citadel_server_csr_sign_err_count              counter  internal failures while signing
//   ambit_ca_csr_refused_total{reason}             counter  every refusal by reason:
//       unauthenticated, not_allowed (identity not the caller's: no pod of it on the node),
//       bad_request, unavailable (could not check now), signer_failure
//   citadel_server_root_cert_expiry_timestamp      gauge    Unix time the root expires
//   citadel_server_root_cert_expiry_seconds        gauge    seconds until then (at the scrape)
// Configuration (the same families as admin::HealthMetrics in the other daemons; not that class
// itself, whose discovery-client and hand-off gauges would read 0 here and trip their alerts):
//   ambit_config_info{version}                     the discovery store's system version served
//   ambit_config_applied_total, ambit_config_last_applied_timestamp_seconds   per push
//   ambit_config_rejected_total                    object versions rejected (the per-kind
//                                                  split is ambit_control_rejected_objects_total)
// Discovery (common/discovery/server.h with istiod names on): pilot_xds, pilot_xds_pushes{type},
// pilot_total_xds_rejects{type}; Kubernetes writes: ambit_control_write_errors_total{kind}.
//
// Thread-safe (prometheus-cpp metrics are atomic; the CA observer runs on gRPC threads).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "common/identity/ca_service.h"
#include "common/status.h"

namespace ambit::control {

class ControlMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit ControlMetrics(prometheus::Registry& registry);
  ControlMetrics(const ControlMetrics&) = delete;
  ControlMetrics& operator=(const ControlMetrics&) = delete;

  // One CreateCertificate call ended so (identity::CertificateServiceImpl::observe).
  void csr(identity::CsrOutcome outcome);
  // The root(s) workloads verify with: the soonest notAfter of the PEM bundle is published.
  [[nodiscard]] Status rootCertificates(std::string_view roots_pem);
  // Before each scrape: the seconds left until the root expires, as of `now`.
  void refresh(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  // A push made the discovery store's content `version`.
  void configPushed(uint64_t version,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  void objectRejected() { config_rejected_.Increment(); }
  // A write to the Kubernetes API failed (root certificate ConfigMap, waypoint objects, Event).
  void writeFailed(std::string_view kind);

 private:
  prometheus::Family<prometheus::Gauge>& config_info_;
  prometheus::Counter& config_applied_;
  prometheus::Counter& config_rejected_;
  prometheus::Gauge& config_applied_at_;
  prometheus::Counter& csr_count_;
  prometheus::Counter& issued_;
  prometheus::Counter& authn_failures_;
  prometheus::Counter& parse_errors_;
  prometheus::Counter& sign_errors_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Gauge& root_expiry_timestamp_;
  prometheus::Gauge& root_expiry_seconds_;
  prometheus::Family<prometheus::Counter>& write_errors_;
  std::atomic<int64_t> root_not_after_{0};  // Unix seconds; 0: not known yet
  std::mutex mu_;
  prometheus::Gauge* config_version_ = nullptr;  // guarded by mu_
};

}  // namespace ambit::control
