#include "common/admin/istio_labels.h"

namespace ambit::admin {
namespace {

std::string labelOr(const v1::Workload* w, const char* key, const std::string& fallback) {
  if (!w) return fallback;
  auto it = w->labels().find(key);
  return it == w->labels().end() ? fallback : it->second;
}

}  // namespace

void addWorkloadLabels(prometheus::Labels& l, const std::string& side, const v1::Workload* w) {
  l[side + "_workload"] = w ? w->name() : "unknown";
  l[side + "_workload_namespace"] = w ? w->namespace_() : "unknown";
  l[side + "_app"] = labelOr(w, "app", "unknown");
  l[side + "_version"] = labelOr(w, "version", "unknown");
  l[side + "_canonical_service"] =
      w ? (w->canonical_name().empty() ? w->name() : w->canonical_name()) : "unknown";
  l[side + "_canonical_revision"] =
      w ? (w->canonical_revision().empty() ? "latest" : w->canonical_revision()) : "unknown";
  l[side + "_cluster"] = "Kubernetes";
}

void addServiceLabels(prometheus::Labels& l, const v1::Service* service,
                      const v1::Workload* destination) {
  if (service) {
    l["destination_service"] = service->hostname();
    l["destination_service_name"] = service->name();
    l["destination_service_namespace"] = service->namespace_();
    return;
  }
  l["destination_service"] = "unknown";
  l["destination_service_name"] = "unknown";
  l["destination_service_namespace"] = destination ? destination->namespace_() : "unknown";
}

}  // namespace ambit::admin
