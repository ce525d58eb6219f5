// The mesh daemons `lab up` starts in every node netns (see NodeDaemonSpec in topology.h for
// the placeholders): the node agent (eBPF capture + pod hand-off + embedded CA) and the
// ztunnel. Each runs in <cgroup2>/<lab>-lab/system/<node>-<name> - outside the node's pod
// subtree, so capture never applies to the daemons themselves - logs to
// <run_dir>/logs/<node>-<name>.log, and is stopped by `lab down` with SIGTERM, then SIGKILL
// after 5 s; then `ambit-agent --cleanup` removes the node's pinned eBPF objects.
#include "cli/lab/topology.h"

namespace ambit::lab {

namespace {
// One CA root for the whole lab ({run_dir}/ca, shared by every node's agent, like a cluster
// CA), and per-lab, per-node locations for the rest, so two labs (e.g. a test lab beside a demo
// lab) never share pinned maps or sockets.
const std::vector<std::string> kNodePaths = {
    "--pin-dir",
    "/sys/fs/bpf/ambit/{lab}-{node}",
    "--run-dir",
    "{state_dir}/run",
};
}  // namespace

std::vector<NodeDaemonSpec> defaultNodeDaemons() {
  NodeDaemonSpec agent{.name = "agent", .binary = "{bin_dir}/ambit-agent"};
  agent.args = {"--node",         "{node}",         "--config-dir",   "{config_dir}",
                "--cgroup",       "{cgroup}",       "--state-dir",    "{run_dir}/ca",
                "--probe-source", "{gateway_ipv4}", "--probe-source", "{gateway_ipv6}"};
  agent.args.insert(agent.args.end(), kNodePaths.begin(), kNodePaths.end());
  agent.cleanup_args = {"--cleanup", "--node", "{node}", "--state-dir", "{run_dir}/ca"};
  agent.cleanup_args.insert(agent.cleanup_args.end(), kNodePaths.begin(), kNodePaths.end());

  NodeDaemonSpec ztunnel{.name = "ztunnel", .binary = "{bin_dir}/ambit-ztunnel"};
  ztunnel.args = {"--node", "{node}", "--config-dir", "{config_dir}"};
  ztunnel.args.insert(ztunnel.args.end(), kNodePaths.begin(), kNodePaths.end());
  ztunnel.ready_url = "http://127.0.0.1:15021/healthz/ready";
  return {agent, ztunnel};
}

// Files under {run_dir}/kube are written by kube_lab.cc before the daemons start. The agent
// dials ambit-control on the underlay bridge address, which the serving certificate carries as
// a name (kube_lab.h).
std::vector<NodeDaemonSpec> kubernetesNodeDaemons() {
  NodeDaemonSpec agent{.name = "agent", .binary = "{bin_dir}/ambit-agent"};
  agent.args = {"--kubernetes",
                "--node",
                "{node}",
                "--kubeconfig",
                "{run_dir}/kube/{node}-agent.kubeconfig",
                "--discovery-address",
                "{control_address}",
                "--control-ca",
                "{run_dir}/kube/root-cert.pem",
                "--token-file",
                "{run_dir}/kube/{node}-ambit-token",
                "--kubelet-cgroup-root",
                "{kubelet_root}",
                "--cgroup-driver",
                "cgroupfs",
                "--state-dir",
                "{state_dir}/agent",
                "--probe-source",
                "{gateway_ipv4}",
                "--probe-source",
                "{gateway_ipv6}"};
  agent.args.insert(agent.args.end(), kNodePaths.begin(), kNodePaths.end());
  agent.cleanup_args = {"--cleanup", "--node", "{node}", "--state-dir", "{state_dir}/agent"};
  agent.cleanup_args.insert(agent.cleanup_args.end(), kNodePaths.begin(), kNodePaths.end());

  NodeDaemonSpec ztunnel{.name = "ztunnel", .binary = "{bin_dir}/ambit-ztunnel"};
  ztunnel.args = {"--node", "{node}", "--discovery-address", "unix:{state_dir}/run/discovery.sock"};
  ztunnel.args.insert(ztunnel.args.end(), kNodePaths.begin(), kNodePaths.end());
  ztunnel.ready_url = "http://127.0.0.1:15021/healthz/ready";
  return {agent, ztunnel};
}

}  // namespace ambit::lab
