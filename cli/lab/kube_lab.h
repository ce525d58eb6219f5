#pragma once
// Kubernetes mode of the lab (`ambitctl lab up --kubernetes --kubeconfig ADMIN`): the lab plays
// the kubelet and the cluster admin against a real API server (tests/k8s/cluster), so ambit's
// Kubernetes mode runs on lab nodes exactly as in a cluster:
//   - API objects instead of YAML: Namespaces (istio.io/dataplane-mode=ambient), Services with
//     the lab's cluster IPs (10.96.0.x, inside the API server's service range 10.96.0.0/16),
//     Nodes, ServiceAccounts, the node agent's RBAC (docs/kubernetes.md, "The contract the chart
//     follows"), and a Pod per lab pod (spec.nodeName, one container, a CPU request: QoS
//     Burstable). Like a kubelet, the lab creates the Pod first, then its cgroup from metadata.uid
//     in the kubelet layout
//     (<lab cgroup>/<node>/kubepods/burstable/pod<uid>/<container>), starts the app there, and
//     finally reports status (Running, podIPs) with PUT pods/<name>/status.
//   - Networking: the API server listens on 127.0.0.1 of the host netns, unreachable from lab
//     namespaces. An api relay (api_relay.h) listens in the underlay netns on the `kubernetes`
//     Service address 10.96.0.1:443 (in the API server's certificate) and forwards to it; every
//     node routes 10.96.0.1 to the underlay bridge, which gets 172.30.0.1/24.
//   - ambit's identities are the chart's: ServiceAccounts ambit-system/ambit-control and
//     ambit-agent with the chart's RBAC must exist before `up` (the lab never uses its admin
//     credentials for ambit's daemons, so the chart's RBAC is what they run with).
//   - ambit-control runs in the underlay netns on 172.30.0.1:15012 (monitoring :15014) with a
//     kubeconfig to 10.96.0.1:443 and a token of ambit-control; its serving certificate also names
//     "172.30.0.1" so agents dialing that address verify it (no cluster DNS in the lab). With
//     --control-replicas N, replica i runs as cluster/control-i on 172.30.0.<1+i> (same names).
//   - Each node's agent gets, under <run_dir>/kube: a kubeconfig with a token of
//     ambit-system/ambit-agent for the API, a token with audience `ambit` for ambit-control
//     (both bound to the Pod ambit-node-<node> scheduled on that node, as a DaemonSet pod's
//     projected token is), and ambit-control's root certificate (ConfigMap ambit-ca-root-cert).
//   - With --waypoint the lab applies Gateway default/waypoint (class istio-waypoint) like a
//     user, and plays the Deployment controller and kubelet for the Deployment ambit-control
//     creates for it: a Pod from its template on node1, its projected token and ConfigMap
//     volumes as files under <run_dir>/kube/pods/waypoint/, the container's args with mount
//     paths pointing there, the image's name as the binary. Binding a Service to it is the
//     user's step (`kubectl label service my-app istio.io/use-waypoint=waypoint`).
// Tokens last 1 h (not refreshed: a lab is short-lived).

#include <functional>
#include <memory>
#include <string>

#include "cli/lab/intent.h"
#include "cli/lab/kube_api.h"
#include "cli/lab/topology.h"
#include "common/status.h"

namespace ambit::lab {

inline constexpr const char* kKubeNamespace = "ambit-system";
inline constexpr const char* kUnderlayGatewayV4 = "172.30.0.1";
inline constexpr const char* kApiServiceIp = "10.96.0.1";
inline constexpr int kApiServicePort = 443;
inline constexpr int kControlPort = 15012;
inline constexpr int kControlMonitoringPort = 15014;

// Where replica i (0-based) of ambit-control listens: 172.30.0.<1+i> in the underlay netns.
std::string controlReplicaIp(int replica);
// The gRPC target agents and waypoints dial for ambit-control: "172.30.0.1:15012", or with
// several replicas "ipv4:172.30.0.1:15012,172.30.0.2:15012" (gRPC moves to the next address
// when one fails, as a Service VIP in front of the replicas would).
std::string controlAddress(const Topology& t);

// The waypoint pod of a Kubernetes-mode lab: created from ambit-control's Deployment
// (KubeLab::deployWaypoint), not with the other pods.
bool deployedByControl(const Topology& t, const PodSpec& p);

class KubeLab {
 public:
  static Result<std::unique_ptr<KubeLab>> open(const Topology& t);

  // Before the pods' cgroups: routes to the API relay, the relay, and every cluster object;
  // fills in each pod's uid (t.pods[i].uid, recorded in the state).
  Status prepare(Topology& t, Intent& intent, const std::string& cgroup_mount);
  // ambit-control, then (once it published its root certificate) each node's credentials.
  Status startControlPlane(const Topology& t, Intent& intent, const std::string& cgroup_mount);
  // After the apps accept: what a kubelet reports once containers run.
  Status reportPodsRunning(const Topology& t);

  // After startControlPlane, with --waypoint: the waypoint pod from ambit-control's
  // Deployment (uid, cgroups, volumes, command filled in and recorded); else nothing.
  Status deployWaypoint(Topology& t, Intent& intent, const std::string& cgroup_mount);

  // One pod, as above (`lab pod add`): the Pod object (pod.uid filled in, recorded) / its status.
  Status createPod(PodSpec& pod, Intent& intent);
  Status reportPodRunning(const Topology& t, const PodSpec& pod);
  // What `kubectl delete pod` and then the kubelet do: a graceful DELETE (the Pod turns
  // Terminating) before `stop` ends its containers, then the final DELETE (grace period 0).
  Status deletePod(const PodSpec& pod, const std::function<Status()>& stop);

 private:
  explicit KubeLab(std::unique_ptr<KubeApi> api) : api_(std::move(api)) {}
  Status routeToUnderlay(const Topology& t);
  Status startApiRelay(const Topology& t, Intent& intent, const std::string& cgroup_mount);
  Status createClusterObjects(const Topology& t);
  Status writeNodeCredentials(const Topology& t, Intent& intent, const NodeSpec& node);
  // A TokenRequest for ambit-system/<service_account>; audience empty: the API server's;
  // bound_pod empty: bound to nothing.
  Result<std::string> token(const std::string& service_account, const std::string& audience,
                            const std::string& bound_pod, const std::string& ns = kKubeNamespace);

  std::unique_ptr<KubeApi> api_;
};

}  // namespace ambit::lab
