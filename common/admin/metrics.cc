#include "common/admin/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

#include <mutex>

#include "common/admin/process_metrics.h"

namespace ambit::admin {
namespace {

std::mutex process_mu;
std::shared_ptr<const ProcessCollector> process_collector;  // guarded by process_mu

std::shared_ptr<const ProcessCollector> processCollector() {
  std::lock_guard lock(process_mu);
  return process_collector;
}

}  // namespace

void exposeProcessMetrics(const std::string& component) {
  auto collector = std::make_shared<const ProcessCollector>(component);
  std::lock_guard lock(process_mu);
  process_collector = std::move(collector);
}

std::string renderMetrics(const prometheus::Registry& registry) {
  std::vector<prometheus::MetricFamily> families = registry.Collect();
  if (auto process = processCollector()) {
    for (auto& f : process->Collect()) families.push_back(std::move(f));
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(families);
}

Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry) {
  return metricsHandler(std::move(registry), {});
}

Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry,
                       std::function<void()> refresh) {
  return [registry = std::move(registry), refresh = std::move(refresh)](const Request&) {
    if (refresh) refresh();
    return Response{200, kPrometheusContentType, renderMetrics(*registry)};
  };
}

std::function<void()> acceptExhaustedCounter(prometheus::Registry& registry,
                                             const std::string& listener) {
  auto& counter =
      prometheus::BuildCounter()
          .Name("ambit_accept_resource_exhausted_total")
          .Help(
              "accept() calls that failed for lack of file descriptors or socket memory "
              "(EMFILE, ENFILE, ENOBUFS, ENOMEM); the listener pauses up to 1 s each time")
          .Register(registry)
          .Add({{"listener", listener}});
  return [&counter] { counter.Increment(); };
}

std::function<void(const std::string& reason)> hboneTimeoutCounter(prometheus::Registry& registry) {
  auto& family = prometheus::BuildCounter()
                     .Name("ambit_hbone_timeouts_total")
                     .Help(
                         "HBONE connections closed by the TLS handshake or HTTP/2 header timeout, "
                         "and tunnels reset (or connections closed) because the peer took none of "
                         "the bytes waiting for it within the send-stall timeout")
                     .Register(registry);
  for (const char* reason : {"handshake", "header", "send_stall"}) family.Add({{"reason", reason}});
  return [&family](const std::string& reason) { family.Add({{"reason", reason}}).Increment(); };
}

}  // namespace ambit::admin
