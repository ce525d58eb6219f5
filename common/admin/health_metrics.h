#pragma once
// A daemon's own health, the same families in every ambit daemon (agent, ztunnel, waypoint,
// control) so one dashboard and one set of alerts covers them all. Named as Istio's ztunnel
// names its own where it has one (istio_cert_expiry_seconds, istio_xds_connection_terminations
// _total), else ambit_*:
//
//   ambit_config_info{version}                   gauge    1 for the configuration in force
//   ambit_config_applied_total                   counter  configuration versions applied
//   ambit_config_rejected_total                  counter  versions rejected (last good stays)
//   ambit_config_last_applied_timestamp_seconds  gauge    when the version in force was applied
//   istio_cert_expiry_seconds{identity}          gauge    Unix time the workload certificate
//                                                         expires (one series per identity held)
//   ambit_xds_connected                          gauge    1 while the discovery stream is up
//   istio_xds_connection_terminations_total{reason}       discovery streams ended: ConnectionError
//                                                         (never answered), Error, Complete
//   ambit_handoff_connected                      gauge    1 while the agent <-> ztunnel pod
//                                                         hand-off channel is up (agent: ztunnels
//                                                         connected)
//   ambit_connection_failures_total{direction,reason}     connections dropped or refused:
//                                                         direction inbound|outbound, reason a
//                                                         short fixed word (policy_denied, ...)
//
// Thread-safe: prometheus-cpp metrics are atomic and families lock their own series; the
// bookkeeping here (current version, identities) takes mu_. Every method is cheap enough for a
// data thread (a map lookup under a lock; connection failures are not the fast path).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ambit::admin {

class HealthMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit HealthMetrics(prometheus::Registry& registry);
  HealthMetrics(const HealthMetrics&) = delete;
  HealthMetrics& operator=(const HealthMetrics&) = delete;

  void configApplied(const std::string& version,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  void configRejected();

  // The certificate held for `identity` now expires at `not_after` (issued or rotated).
  void certificateExpiry(const std::string& identity,
                         std::chrono::system_clock::time_point not_after);
  // `identity` is no longer held: its series goes.
  void certificateDropped(const std::string& identity);
  // Either of the above: an expiry, or nullopt when the identity is dropped (the shape of
  // identity::IdentityStore::CertificateObserver).
  void certificate(const std::string& identity,
                   std::optional<std::chrono::system_clock::time_point> not_after);
  // Makes the held set exactly `expiries` (identity -> not_after), for state read on demand.
  void certificates(const std::map<std::string, std::chrono::system_clock::time_point>& expiries);

  // The discovery client's state: connected now, and how many streams ended per Istio reason
  // since start (absolute counts; the counters follow them).
  void xdsState(bool connected, const std::map<std::string, uint64_t>& terminations_by_reason);

  void handoffConnected(double connected);

  void connectionFailed(std::string_view direction, std::string_view reason);

 private:
  prometheus::Family<prometheus::Gauge>& config_info_;
  prometheus::Counter& config_applied_;
  prometheus::Counter& config_rejected_;
  prometheus::Gauge& config_applied_at_;
  prometheus::Family<prometheus::Gauge>& cert_expiry_;
  prometheus::Gauge& xds_connected_;
  prometheus::Family<prometheus::Counter>& xds_terminations_;
  prometheus::Gauge& handoff_connected_;
  prometheus::Family<prometheus::Counter>& connection_failures_;

  std::mutex mu_;
  prometheus::Gauge* config_version_ = nullptr;                                   // guarded by mu_
  std::map<std::string, prometheus::Gauge*> certs_;                               // guarded by mu_
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> failures_;  // guarded by mu_
};

}  // namespace ambit::admin
