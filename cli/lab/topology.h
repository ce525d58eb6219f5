#pragma once
// The lab's topology: which nodes, pods, services and per-node daemons exist, their names and
// addresses. Pure data computed from LabOptions; nothing here touches the kernel.
//
// Naming (L = LabOptions::name, "ambit" by default):
//   netns     L-underlay, L-node<i>, L-pod-<pod>          (/run/netns/<name>)
//   cgroups   <cgroup2>/L-lab/node<i>/<pod>             (agents attach BPF at .../L-lab/node<i>)
//             <cgroup2>/L-lab/system/node<i>-<daemon>   (node daemons: outside the pod subtree)
//   run dir   /run/L-lab: state.json, config/ (YAML), logs/, nodes/<node>/ (daemon state)
// Interfaces only ever exist inside lab namespaces (veths are created with both ends placed
// directly in their namespaces), so nothing appears in the root netns:
//   underlay: bridge ambit-ul, ports ambitu<i>;  node: eth0 (uplink), bridge ambit0,
//   pod ports ambitv<k>;  pod: eth0.
// Addressing (decimal numbers reused as IPv6 hex groups):
//   node i   underlay 172.30.0.<10+i>/24, fd00:172:30::<10+i>/64
//            pod CIDR 10.244.<i>.0/24, fd00:10:244:<i>::/64, gateway .1 / ::1 on ambit0
//   pod k    10.244.<i>.<k>/24, fd00:10:244:<i>::<k>/64 (k from 10 upwards per node)
//   service  cluster IPs 10.96.0.<10+j>, fd00:10:96::<10+j>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::lab {

inline constexpr int kMaxNodes = 200;
inline constexpr int kFirstPodHost = 10;
inline constexpr int kAppPort = 8080;
inline constexpr int kWaypointHbonePort = 15008;
inline constexpr const char* kWaypointName = "waypoint";  // Gateway, pod and service account
// `lab up --cert-ttl` bounds: the ztunnel's minimum and the waypoint's maximum.
inline constexpr int64_t kMinCertTtlSeconds = 10;
inline constexpr int64_t kMaxCertTtlSeconds = 365 * 24 * 3600;

// A mesh daemon started once per node inside the node's netns (e.g. ambit-agent,
// ambit-ztunnel). binary, args and log_file may contain placeholders, expanded per node:
//   {lab} {node} {node_index} {netns} {netns_path} {node_ipv4} {node_ipv6} {config_dir}
//   {cgroup} (the node's pod cgroup subtree, absolute) {state_dir} (<run>/nodes/<node>)
//   {run_dir} {bin_dir}
struct NodeDaemonSpec {
  std::string name;               // short, unique per node: "agent", "ztunnel"
  std::string binary;             // e.g. "{bin_dir}/ambit-agent"
  std::vector<std::string> args;  // e.g. {"--node", "{node}", "--config", "{config_dir}"}
  std::string log_file;           // empty: {run_dir}/logs/{node}-<name>.log
  // Run (with `binary`) by `lab down` after every daemon stopped; empty: nothing to clean.
  std::vector<std::string> cleanup_args;
  // `lab up` returns only once GET <ready_url> from the node netns succeeds; empty: no wait.
  std::string ready_url;
};

// The daemons `lab up` starts on every node: agent (local mode, YAML config dir) and ztunnel.
std::vector<NodeDaemonSpec> defaultNodeDaemons();
// The same in Kubernetes mode: ambit-agent --kubernetes (credentials under {run_dir}/kube, see
// kube_lab.h) and a ztunnel fed by the agent's discovery relay.
std::vector<NodeDaemonSpec> kubernetesNodeDaemons();

// A pod beyond the default ones, running the sample app: added to a Kubernetes-mode lab after
// `up` (`ambitctl lab pod add`), as a kubelet would start a pod scheduled later, or to a
// local-mode lab by `lab up --extra-pod`; recorded in the state so status/exec/down know it.
struct ExtraPod {
  std::string name;
  std::string node;
  std::string namespace_name = "default";
  std::string service_account;  // empty: the pod's name
  std::map<std::string, std::string> labels;

  bool operator==(const ExtraPod&) const = default;
};

// `lab up --extra-pod NAME[:NODE]`: pod NAME on NODE (default node1) in namespace default, with
// label app=NAME and service account NAME. Name and node are checked by buildTopology.
Result<ExtraPod> parseExtraPod(const std::string& spec);

struct LabOptions {
  std::string name = "ambit";  // prefix of every netns, cgroup and the run dir
  int nodes = 2;
  std::string run_dir;     // empty: /run/<name>-lab
  std::string config_dir;  // empty: <run_dir>/config
  std::string bin_dir;     // empty: the directory of the running executable
  std::vector<NodeDaemonSpec> daemons = defaultNodeDaemons();
  // Adds a waypoint pod (ambit-waypoint, Gateway "waypoint") on node1 and binds Service
  // my-app to it (label istio.io/use-waypoint), so its HTTP traffic goes through L7.
  bool waypoint = false;
  // Start the supervisor that restarts crashed lab processes (supervisor.h). Off for tests
  // that stop a lab daemon on purpose and run their own in its place.
  bool supervise = true;
  // Extra command-line flags for the waypoint pod's ambit-waypoint (e.g. "--zipkin-address=…").
  std::vector<std::string> waypoint_args;
  // Kubernetes mode (kube_lab.h): the lab's objects go to the API server of `kubeconfig`
  // (cluster admin) instead of YAML files, pods live in kubelet-layout cgroups, and every node
  // runs ambit-agent --kubernetes against one ambit-control. Daemons: kubernetesNodeDaemons().
  bool kubernetes = false;
  std::string kubeconfig;
  int control_replicas = 1;          // Kubernetes mode: ambit-control processes (kube_lab.h)
  std::vector<ExtraPod> extra_pods;  // after the default pods
  // Requested workload certificate TTL (`--cert-ttl`) for every ztunnel and the waypoint, so
  // their certificates rotate while the lab runs: the CA backdates notBefore by a minute and
  // the daemons renew at half the validity, i.e. (ttl - 60) / 2 seconds after each issue for a
  // ttl over 60 s (180: every minute). nullopt: the daemons' default (24 h). Checked by
  // buildTopology.
  std::optional<int64_t> cert_ttl_seconds;
};

// `lab up --cert-ttl SECONDS`: whole seconds, a clear error for anything else (the range is
// checked by buildTopology).
Result<int64_t> parseCertTtl(const std::string& text);

// The flags that pass options.cert_ttl_seconds to an ambit-ztunnel or ambit-waypoint (none when
// it is unset).
std::vector<std::string> certTtlArgs(const LabOptions& options);

struct NodeSpec {
  std::string name;  // node<i>
  int index = 0;     // i, 1-based
  std::string netns;
  std::string underlay_ipv4, underlay_ipv6;  // without prefix length
  std::string pod_cidr_v4, pod_cidr_v6;
  std::string gateway_v4, gateway_v6;
  std::string underlay_port;  // the node's veth end inside the underlay netns
};

struct PodSpec {
  std::string name;
  std::string namespace_name = "default";
  std::string node;
  int host = 0;  // k: last octet / last IPv6 group
  std::map<std::string, std::string> labels;
  std::string service_account;
  std::string netns;
  std::string ipv4, ipv6;  // without prefix length
  std::string node_port;   // the pod's veth end inside the node netns
  // What runs in the pod; empty: the sample app on kAppPort. Placeholders as for node
  // daemons ({bin_dir} {config_dir} {node} {state_dir} {run_dir} ...) plus {pod}.
  std::vector<std::string> command;
  int ready_port = kAppPort;    // `lab up` waits until the pod accepts on it
  std::string uid;              // Kubernetes mode: metadata.uid the API server gave the Pod
  std::string version() const;  // labels["version"] or "latest"
};

struct ServicePort {
  std::string name = "http";
  int port = 80;
  int target_port = kAppPort;
};

struct ServiceSpec {
  std::string name;
  std::string namespace_name = "default";
  std::map<std::string, std::string> selector;
  std::string cluster_ipv4, cluster_ipv6;
  std::vector<ServicePort> ports{ServicePort{}};
  std::map<std::string, std::string> labels;
};

struct Topology {
  LabOptions options;  // with every default filled in
  std::string underlay_netns;
  std::string state_file, log_dir, node_state_root;
  std::string cgroup_subdir;  // relative to the cgroup2 mount: "<name>-lab"
  std::vector<NodeSpec> nodes;
  std::vector<PodSpec> pods;
  std::vector<ServiceSpec> services;

  const NodeSpec* findNode(const std::string& name) const;
  const PodSpec* findPod(const std::string& name) const;
};

inline constexpr const char* kUnderlayBridge = "ambit-ul";
inline constexpr const char* kNodeBridge = "ambit0";
inline constexpr const char* kUplink = "eth0";
inline constexpr const char* kPodInterface = "eth0";

// Validates options (name, node count) and computes the topology with the default pods
// (client and my-app-v1 on node1, my-app-v2 on node2 — or node1 for a one-node lab; with
// options.waypoint also the waypoint pod on node1), then options.extra_pods, and services (my-app
// 10.96.0.10, client 10.96.0.11). With cert_ttl_seconds, the "ztunnel" daemons and the
// waypoint pod get certTtlArgs().
Result<Topology> buildTopology(const LabOptions& options);

// Replaces each "{key}" in tmpl with vars[key]; an unknown key is an error.
Result<std::string> expandPlaceholders(const std::string& tmpl,
                                       const std::map<std::string, std::string>& vars);

// The directory of /proc/self/exe.
std::string selfBinaryDir();

}  // namespace ambit::lab
