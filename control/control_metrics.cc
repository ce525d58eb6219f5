#include "control/control_metrics.h"

#include <algorithm>
#include <limits>

#include "common/identity/pem.h"
#include "common/identity/x509_builder.h"

namespace ambit::control {
namespace {

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

std::string_view reasonOf(identity::CsrOutcome o) {
  switch (o) {
    case identity::CsrOutcome::kUnauthenticated:
      return "unauthenticated";
    case identity::CsrOutcome::kNotAllowed:
      return "not_allowed";
    case identity::CsrOutcome::kBadRequest:
      return "bad_request";
    case identity::CsrOutcome::kUnavailable:
      return "unavailable";
    case identity::CsrOutcome::kSignerFailure:
      return "signer_failure";
    case identity::CsrOutcome::kSigned:
      break;
  }
  return "";
}

int64_t unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ControlMetrics::ControlMetrics(prometheus::Registry& registry)
    : config_info_(prometheus::BuildGauge()
                       .Name("ambit_config_info")
                       .Help("The configuration version in force (1)")
                       .Register(registry)),
      config_applied_(counter(registry, "ambit_config_applied_total",
                              "Configuration versions applied (pushed to the discovery store)")),
      config_rejected_(counter(registry, "ambit_config_rejected_total",
                               "Object versions rejected; the last good one stays")),
      config_applied_at_(gauge(registry, "ambit_config_last_applied_timestamp_seconds",
                               "When the configuration in force was applied, Unix seconds")),
      csr_count_(counter(registry, "citadel_server_csr_count",
                         "The number of CSRs received by the CertificateService")),
      issued_(counter(registry, "citadel_server_success_cert_issuance_count",
                      "The number of certificates issuances that have succeeded")),
      authn_failures_(counter(registry, "citadel_server_authentication_failure_count",
                              "The number of authentication failures")),
      parse_errors_(counter(registry, "citadel_server_csr_parsing_err_count",
                            "The number of errors occurred when parsing or accepting the CSR")),
      sign_errors_(counter(registry, "citadel_server_csr_sign_err_count",
                           "The number of errors occurred when signing the CSR")),
      refused_(prometheus::BuildCounter()
                   .Name("ambit_ca_csr_refused_total")
                   .Help("CreateCertificate calls refused, by reason (unauthenticated, "
                         "not_allowed, bad_request, unavailable, signer_failure)")
                   .Register(registry)),
      root_expiry_timestamp_(gauge(registry, "citadel_server_root_cert_expiry_timestamp",
                                   "The unix timestamp, in seconds, when the root cert expires")),
      root_expiry_seconds_(gauge(registry, "citadel_server_root_cert_expiry_seconds",
                                 "The time remaining, in seconds, before the root cert expires")),
      write_errors_(prometheus::BuildCounter()
                        .Name("ambit_control_write_errors_total")
                        .Help("Writes to the Kubernetes API that failed, by kind written")
                        .Register(registry)) {
  for (auto o : {identity::CsrOutcome::kUnauthenticated, identity::CsrOutcome::kNotAllowed,
                 identity::CsrOutcome::kBadRequest, identity::CsrOutcome::kUnavailable,
                 identity::CsrOutcome::kSignerFailure}) {
    refused_.Add({{"reason", std::string(reasonOf(o))}});  // every reason visible at 0
  }
}

void ControlMetrics::csr(identity::CsrOutcome outcome) {
  csr_count_.Increment();
  switch (outcome) {
    case identity::CsrOutcome::kSigned:
      issued_.Increment();
      return;
    case identity::CsrOutcome::kUnauthenticated:
      authn_failures_.Increment();
      break;
    case identity::CsrOutcome::kBadRequest:
      parse_errors_.Increment();
      break;
    case identity::CsrOutcome::kSignerFailure:
      sign_errors_.Increment();
      break;
    case identity::CsrOutcome::kNotAllowed:
    case identity::CsrOutcome::kUnavailable:
      break;
  }
  refused_.Add({{"reason", std::string(reasonOf(outcome))}}).Increment();
}

Status ControlMetrics::rootCertificates(std::string_view roots_pem) {
  auto roots = identity::parseCertificateBundlePem(roots_pem);
  if (!roots) return roots.error().context("root certificate expiry");
  if (roots->empty()) return makeError("root certificate expiry: no certificate in the bundle");
  int64_t soonest = std::numeric_limits<int64_t>::max();
  for (const auto& cert : *roots) {
    soonest = std::min(soonest, unixSeconds(identity::x509::notAfter(cert.get())));
  }
  root_not_after_ = soonest;
  root_expiry_timestamp_.Set(static_cast<double>(soonest));
  refresh();
  return Status::ok();
}

void ControlMetrics::refresh(std::chrono::system_clock::time_point now) {
  const int64_t not_after = root_not_after_;
  if (not_after == 0) return;
  root_expiry_seconds_.Set(static_cast<double>(not_after - unixSeconds(now)));
}

void ControlMetrics::configPushed(uint64_t version, std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (config_version_) config_info_.Remove(config_version_);
  config_version_ = &config_info_.Add({{"version", std::to_string(version)}});
  config_version_->Set(1);
  config_applied_.Increment();
  config_applied_at_.Set(static_cast<double>(unixSeconds(now)));
}

void ControlMetrics::writeFailed(std::string_view kind) {
  write_errors_.Add({{"kind", std::string(kind)}}).Increment();
}

}  // namespace ambit::control
