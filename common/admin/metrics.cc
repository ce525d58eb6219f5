#include "common/admin/metrics.h"

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

}  // namespace ambit::admin
