#pragma once
// Istio's standard metric labels for the workloads and service of a connection or request
// (source_* / destination_* workload, app, version, canonical service and revision, cluster;
// destination_service*), shared by the ztunnel's TCP metrics and the waypoint's HTTP metrics
// so dashboards see one label set.

#include <prometheus/labels.h>

#include <string>

#include "ambit/v1/workload.pb.h"

namespace ambit::admin {

// The workload a pod belongs to, as Istio names it in `source_workload` /
// `destination_workload`: its Deployment, StatefulSet, DaemonSet or Job, found from the labels
// their controllers put on every pod they create (pod-template-hash, statefulset.kubernetes.io/
// pod-name, pod-template-generation, batch.kubernetes.io/job-name) and the names they give it;
// else the pod's own name (a bare pod, a lab pod).
std::string workloadName(const v1::Workload& workload);
// `side` is "source" or "destination"; a null workload gives "unknown" values.
void addWorkloadLabels(prometheus::Labels& labels, const std::string& side,
                       const v1::Workload* workload);
// destination_service, destination_service_name, destination_service_namespace; without a
// service the namespace comes from `destination` when known.
void addServiceLabels(prometheus::Labels& labels, const v1::Service* service,
                      const v1::Workload* destination);

}  // namespace ambit::admin
