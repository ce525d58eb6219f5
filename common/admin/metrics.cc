#include "common/admin/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

namespace ambit::admin {

std::string renderMetrics(const prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

Handler metricsHandler(std::shared_ptr<prometheus::Registry> registry) {
  return [registry = std::move(registry)](const Request&) {
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

}  // namespace ambit::admin
