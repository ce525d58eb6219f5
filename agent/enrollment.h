#pragma once
// Which pods on this node are in the mesh, and what changed since the last reconcile.
// Pure functions over the translated config: no kernel objects here (see pod_reconciler.h).

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/config_error.h"

namespace ambit::agent {

// The desired capture state of one enrolled pod on this node.
struct EnrolledPod {
  v1::Workload workload;
  std::string netns_path;

  bool operator==(const EnrolledPod& o) const;
};

struct EnrollmentPlan {
  std::map<std::string, EnrolledPod> pods;  // by workload uid
  // Per-pod problems that keep that pod out of the plan (the others are unaffected), e.g. no
  // netns annotation in local mode or an IP another pod on the node already claims.
  std::vector<std::string> problems;
  // Network namespaces of this node's pods that are not in the mesh (a previous agent may have
  // left reply routing there).
  std::vector<std::string> outside_netns;
  // Kubernetes mode: pods in the mesh on this node whose IP the API server has not reported
  // yet (scheduled, sandbox starting). Not enrolled yet, but held: their connects are refused
  // from the moment their cgroup exists until they are (NetnsResolver::hold).
  std::vector<v1::Workload> awaiting_ip;
};

// Where a pod's network namespace comes from.
enum class NetnsSource {
  kAnnotation,  // local mode: the annotation ambit.dev/netns (a pod without one is a problem)
  kResolver,    // Kubernetes mode: found by the reconciler's NetnsResolver (kube_pod_netns.h)
};

// Enrolled workloads with spec.nodeName == node.
EnrollmentPlan planEnrollment(const v1::MeshSnapshot& snapshot, const std::string& node,
                              NetnsSource source = NetnsSource::kAnnotation);

// Everything the agent derives from one snapshot for its node. Built off the agent's loop
// thread (the config pipeline's prepare step), then only read.
struct NodeConfig {
  std::shared_ptr<const v1::MeshSnapshot> snapshot;
  EnrollmentPlan plan;  // planEnrollment(*snapshot, node)
  // "<namespace>/<service account>" of every pod scheduled on the node, enrolled or not.
  std::set<std::string> identities;
};

NodeConfig planNode(std::shared_ptr<const v1::MeshSnapshot> snapshot, const std::string& node,
                    NetnsSource source = NetnsSource::kAnnotation);

struct EnrollmentDiff {
  std::vector<std::string> removed;  // uids: gone, or handed-off identity changed (re-added)
  std::vector<std::string> added;    // uids: new, or re-added after such a change
  // uids still enrolled whose netns and handed-off identity (name, namespace, service account,
  // IPs, trust domain, node) are unchanged but something else changed (labels, bypass
  // settings...): applied in place, with no moment out of the mesh.
  std::vector<std::string> updated;
};

EnrollmentDiff diffEnrollment(const std::map<std::string, EnrolledPod>& current,
                              const std::map<std::string, EnrolledPod>& desired);

}  // namespace ambit::agent
