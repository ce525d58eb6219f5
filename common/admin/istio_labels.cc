#include "common/admin/istio_labels.h"

namespace ambit::admin {
namespace {

std::string labelOr(const v1::Workload* w, const char* key, const std::string& fallback) {
  if (!w) return fallback;
  auto it = w->labels().find(key);
  return it == w->labels().end() ? fallback : it->second;
}

const std::string* label(const v1::Workload& w, const char* key) {
  auto it = w.labels().find(key);
  return it == w.labels().end() || it->second.empty() ? nullptr : &it->second;
}

// `name` without its last "-<part>" when that part is `suffix` (any suffix when it is empty).
std::string withoutSuffix(const std::string& name, const std::string& suffix) {
  const auto dash = name.rfind('-');
  if (dash == std::string::npos || dash == 0) return name;
  if (!suffix.empty() && name.compare(dash + 1, std::string::npos, suffix) != 0) return name;
  return name.substr(0, dash);
}

}  // namespace

std::string workloadName(const v1::Workload& w) {
  const std::string& pod = w.name();
  if (const auto* job = label(w, "batch.kubernetes.io/job-name")) return *job;
  // A Deployment's pod: <deployment>-<pod-template-hash>-<random>, from its ReplicaSet
  // <deployment>-<pod-template-hash>.
  if (const auto* hash = label(w, "pod-template-hash")) {
    const std::string replica_set = withoutSuffix(pod, "");
    const std::string deployment = withoutSuffix(replica_set, *hash);
    if (deployment != replica_set) return deployment;
  }
  // A StatefulSet's pod: <statefulset>-<ordinal>, the label repeating the pod's name.
  if (const auto* sts_pod = label(w, "statefulset.kubernetes.io/pod-name");
      sts_pod && *sts_pod == pod) {
    return withoutSuffix(pod, "");
  }
  // A DaemonSet's pod: <daemonset>-<random>.
  if (label(w, "pod-template-generation") && label(w, "controller-revision-hash")) {
    return withoutSuffix(pod, "");
  }
  return pod;
}

void addWorkloadLabels(prometheus::Labels& l, const std::string& side, const v1::Workload* w) {
  l[side + "_workload"] = w ? workloadName(*w) : "unknown";
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
