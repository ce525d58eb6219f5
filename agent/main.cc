// ambit-agent: the per-node agent (capture, enrollment, pod hand-off, embedded CA).
#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/uninstall.h"
#include "common/admin/metrics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/netns.h"

int main(int argc, char** argv) {
  ambit::agent::AgentOptions o;
  bool cleanup = false;
  std::string log_level = "info";
  CLI::App app{"ambit-agent: per-node eBPF capture, enrollment and pod hand-off"};
  app.add_option("--node", o.node, "node this agent runs on (pods with spec.nodeName = NODE)")
      ->envname("NODE_NAME");
  app.add_option("--config-dir", o.config_dir, "directory of Kubernetes-shaped YAML (local mode)");
  app.add_option("--cgroup", o.cgroup_path, "cgroup v2 directory whose subtree holds the pods");
  app.add_option("--pin-dir", o.pin_dir,
                 "bpffs directory for pinned maps/links [/sys/fs/bpf/ambit/NODE]");
  app.add_option("--state-dir", o.state_dir, "CA root and other state [/var/lib/ambit/NODE]");
  app.add_option("--run-dir", o.run_dir, "hand-off and CA sockets [/run/ambit/NODE]");
  app.add_option("--trust-domain", o.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--admin-address", o.admin_address, "admin/metrics listen address")
      ->capture_default_str();
  app.add_option("--admin-port", o.admin_port, "admin/metrics port")->capture_default_str();
  app.add_option("--probe-source", o.probe_sources,
                 "node IP kubelet probes come from (repeatable)");
  app.add_option("--max-cert-ttl", o.max_cert_ttl_seconds,
                 "longest workload certificate TTL, seconds")
      ->capture_default_str()
      ->check(CLI::Range(60u, 30u * 24 * 3600));
  app.add_option("--metrics-address", o.metrics_address,
                 "/metrics listener when --metrics-port is set (Kubernetes mode: default on, "
                 "port 15030, and the admin dumps move to the admin port + 1 on localhost)")
      ->capture_default_str();
  app.add_option("--metrics-port", o.metrics_port, "separate /metrics port (0: on the admin port)");
  app.add_flag("--kubernetes", o.kubernetes,
               "Kubernetes mode: mesh and certificates from ambit-control, pods of this node "
               "found through the API and their kubelet cgroups");
  app.add_option("--kubeconfig", o.kubeconfig, "kubeconfig (Kubernetes mode; default in-cluster)");
  app.add_option("--discovery-address", o.discovery_address, "ambit-control, host:port");
  app.add_option("--control-ca", o.control_ca, "ambit-control's root certificate (PEM file)");
  app.add_option("--token-file", o.token_file,
                 "projected token (audience ambit) for ambit-control");
  app.add_option("--kubelet-cgroup-root", o.kubelet_cgroup_root, "the kubelet's --cgroup-root")
      ->capture_default_str();
  app.add_option("--cgroup-driver", o.cgroup_driver, "the kubelet's cgroup driver")
      ->check(CLI::IsMember({"auto", "cgroupfs", "systemd"}))
      ->capture_default_str();
  app.add_option("--proc-root", o.proc_root, "the host's /proc (e.g. /host/proc in a container)")
      ->capture_default_str();
  app.add_option("--daemonset", o.daemonset,
                 "NAMESPACE/NAME of the DaemonSet running this agent: when it is gone at "
                 "SIGTERM (uninstall), remove the pinned capture instead of keeping it");
  app.add_flag("--cleanup", cleanup, "remove every object an agent for NODE created, then exit");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!ambit::initLogging("agent", log_level)) {
    std::fprintf(stderr, "ambit-agent: --log-level '%s' is not a level\n", log_level.c_str());
    return 2;
  }
  ambit::admin::exposeProcessMetrics("agent");
  // In the node pod /proc/sys is read-only; pods' net.* sysctls go through the host's /proc.
  if (o.proc_root != "/proc") ambit::setSysctlProcFallback(o.proc_root);
  if (cleanup) {
    if (o.node.empty() && o.pin_dir.empty()) {
      ambit::logError("--cleanup needs --node (or --pin-dir and --run-dir)");
      return 2;
    }
    ambit::Status st = ambit::agent::Agent::cleanup(o);
    if (!st) ambit::logError("cleanup: {}", st.message());
    return st ? 0 : 1;
  }
  ambit::Daemon daemon("agent", std::chrono::seconds(5));
  auto agent = ambit::agent::Agent::create(o);
  if (!agent) {
    ambit::logError("cannot start: {}", agent.error().message);
    return 1;
  }
  ambit::logInfo("agent for node {} running", o.node);
  int rc = daemon.serve([&] { (*agent)->run(); },
                        [&] {
                          ambit::logInfo("stopping");
                          (*agent)->stop();
                        });
  if (o.daemonset.empty()) return rc;
  auto gone = ambit::agent::daemonSetGone(o.kubeconfig, o.daemonset);
  if (!gone) {
    ambit::logWarn("cannot tell whether this is an uninstall, pinned capture stays: {}",
                   gone.error().message);
  } else if (!*gone) {
    ambit::logInfo("DaemonSet {} still there: pinned capture stays for the next agent",
                   o.daemonset);
  } else {
    ambit::logInfo("DaemonSet {} is gone (uninstall): removing the node's capture", o.daemonset);
    agent->reset();  // closes its program, map and link handles first
    if (ambit::Status st = ambit::agent::Agent::removeCapture(o); !st) {
      ambit::logError("uninstall: {}", st.message());
      return 1;
    }
  }
  return rc;
}
