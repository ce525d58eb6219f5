#include "common/admin/health_metrics.h"

namespace ambit::admin {
namespace {

double unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

HealthMetrics::HealthMetrics(prometheus::Registry& r)
    : config_info_(prometheus::BuildGauge()
                       .Name("ambit_config_info")
                       .Help("The configuration version in force (1)")
                       .Register(r)),
      config_applied_(prometheus::BuildCounter()
                          .Name("ambit_config_applied_total")
                          .Help("Configuration versions applied")
                          .Register(r)
                          .Add({})),
      config_rejected_(prometheus::BuildCounter()
                           .Name("ambit_config_rejected_total")
                           .Help("Configuration versions rejected; the last good one stays")
                           .Register(r)
                           .Add({})),
      config_applied_at_(prometheus::BuildGauge()
                             .Name("ambit_config_last_applied_timestamp_seconds")
                             .Help("When the configuration in force was applied, Unix seconds")
                             .Register(r)
                             .Add({})),
      cert_expiry_(prometheus::BuildGauge()
                       .Name("istio_cert_expiry_seconds")
                       .Help("Unix timestamp when the workload certificate expires")
                       .Register(r)),
      xds_connected_(prometheus::BuildGauge()
                         .Name("ambit_xds_connected")
                         .Help("1 while the discovery stream is connected")
                         .Register(r)
                         .Add({})),
      xds_terminations_(prometheus::BuildCounter()
                            .Name("istio_xds_connection_terminations_total")
                            .Help("The total number of completed connections to xds server")
                            .Register(r)),
      handoff_connected_(prometheus::BuildGauge()
                             .Name("ambit_handoff_connected")
                             .Help("Pod hand-off channels up (ztunnel: 1 while connected to its "
                                   "agent; agent: ztunnels connected)")
                             .Register(r)
                             .Add({})),
      connection_failures_(prometheus::BuildCounter()
                               .Name("ambit_connection_failures_total")
                               .Help("Connections refused or dropped, by direction and reason")
                               .Register(r)) {}

void HealthMetrics::configApplied(const std::string& version,
                                  std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (config_version_) config_info_.Remove(config_version_);
  config_version_ = &config_info_.Add({{"version", version}});
  config_version_->Set(1);
  config_applied_.Increment();
  config_applied_at_.Set(unixSeconds(now));
}

void HealthMetrics::configRejected() { config_rejected_.Increment(); }

void HealthMetrics::certificateExpiry(const std::string& identity,
                                      std::chrono::system_clock::time_point not_after) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = certs_.try_emplace(identity, nullptr);
  if (fresh) it->second = &cert_expiry_.Add({{"identity", identity}});
  it->second->Set(unixSeconds(not_after));
}

void HealthMetrics::certificateDropped(const std::string& identity) {
  std::lock_guard lock(mu_);
  auto it = certs_.find(identity);
  if (it == certs_.end()) return;
  cert_expiry_.Remove(it->second);
  certs_.erase(it);
}

void HealthMetrics::certificate(const std::string& identity,
                                std::optional<std::chrono::system_clock::time_point> not_after) {
  if (not_after) {
    certificateExpiry(identity, *not_after);
  } else {
    certificateDropped(identity);
  }
}

void HealthMetrics::certificates(
    const std::map<std::string, std::chrono::system_clock::time_point>& expiries) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [identity, gauge] : certs_) {
      if (!expiries.contains(identity)) gone.push_back(identity);
    }
  }
  for (const auto& identity : gone) certificateDropped(identity);
  for (const auto& [identity, not_after] : expiries) certificateExpiry(identity, not_after);
}

void HealthMetrics::xdsState(bool connected,
                             const std::map<std::string, uint64_t>& terminations_by_reason) {
  xds_connected_.Set(connected ? 1 : 0);
  for (const auto& [reason, count] : terminations_by_reason) {
    prometheus::Counter& c = xds_terminations_.Add({{"reason", reason}});
    double delta = static_cast<double>(count) - c.Value();
    if (delta > 0) c.Increment(delta);
  }
}

void HealthMetrics::handoffConnected(double connected) { handoff_connected_.Set(connected); }

void HealthMetrics::connectionFailed(std::string_view direction, std::string_view reason) {
  prometheus::Counter* c = nullptr;
  {
    std::lock_guard lock(mu_);
    auto key = std::make_pair(std::string(direction), std::string(reason));
    auto it = failures_.find(key);
    if (it == failures_.end()) {
      prometheus::Counter* added =
          &connection_failures_.Add({{"direction", key.first}, {"reason", key.second}});
      it = failures_.emplace(std::move(key), added).first;
    }
    c = it->second;
  }
  c->Increment();
}

}  // namespace ambit::admin
