// `ambitctl lab up|down|status|exec`: flag parsing only; the lab library does the work.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/lab/api_relay.h"
#include "cli/lab/lab.h"
#include "cli/lab/supervisor.h"

namespace ambit::cli {
namespace {

[[noreturn]] void fail(const char* command, const Error& e) {
  std::fflush(stdout);
  fmt::print(stderr, "ambitctl lab {}: {}\n", command, e.message);
  std::exit(1);
}

void addLabIdentity(CLI::App& cmd, lab::LabOptions& o) {
  cmd.add_option("--name", o.name,
                 "lab name: prefixes every netns/cgroup and names the run dir /run/<name>-lab")
      ->capture_default_str();
  cmd.add_option("--run-dir", o.run_dir,
                 "state, logs and config live here (default /run/<name>-lab)");
}

void addUp(CLI::App& lab, lab::LabOptions& o) {
  auto* up = lab.add_subcommand("up", "create the lab (idempotent; repairs a half-created lab)");
  addLabIdentity(*up, o);
  up->add_option("--nodes", o.nodes, "number of nodes (1-200)")->capture_default_str();
  up->add_option("--config-dir", o.config_dir,
                 "where the lab's YAML goes (default <run-dir>/config)");
  up->add_flag("--waypoint", o.waypoint,
               "add a waypoint pod (ambit-waypoint) on node1 and send Service my-app through it");
  up->add_option("--waypoint-arg", o.waypoint_args,
                 "extra flag for the waypoint pod's ambit-waypoint, e.g. "
                 "--waypoint-arg=--zipkin-address=10.244.1.10:9411 (repeatable)")
      ->allow_extra_args(false);
  up->add_option("--bin-dir", o.bin_dir,
                 "where ambit-sample-app and node daemons are (default: ambitctl's directory)");
  up->add_flag("--kubernetes", o.kubernetes,
               "Kubernetes mode: objects go to the API server of --kubeconfig, the lab plays the "
               "kubelet, nodes run ambit-agent --kubernetes against ambit-control");
  up->add_option("--kubeconfig", o.kubeconfig, "cluster-admin kubeconfig (with --kubernetes)");
  up->add_option("--control-replicas", o.control_replicas,
                 "ambit-control replicas (with --kubernetes); agents fail over between them")
      ->check(CLI::Range(1, 3))
      ->capture_default_str();
  static std::vector<std::string> ztunnel_args;
  up->add_option("--ztunnel-arg", ztunnel_args,
                 "extra flag for every node's ambit-ztunnel, e.g. "
                 "--ztunnel-arg=--http2-send-stall-timeout-ms=2000 (repeatable)")
      ->allow_extra_args(false);
  static std::string cert_ttl;
  up->add_option("--cert-ttl", cert_ttl,
                 "requested workload certificate TTL (seconds, 10 to 31536000) for every ztunnel "
                 "and the waypoint; they renew about (ttl - 60) / 2 s after each issue, so 180 "
                 "rotates every minute (default: the daemons' 24 h)");
  static std::vector<std::string> extra_pods;
  up->add_option("--extra-pod", extra_pods,
                 "one more sample-app pod NAME[:NODE] (default node1) with label app=NAME and "
                 "service account NAME (repeatable; local mode: Kubernetes mode has `lab pod add`)")
      ->allow_extra_args(false);
  static bool no_supervisor = false;
  up->add_flag("--no-supervisor", no_supervisor,
               "do not restart crashed lab processes (for tests that replace a daemon themselves)");
  up->callback([&o] {
    o.supervise = !no_supervisor;
    if (!cert_ttl.empty()) {
      auto ttl = lab::parseCertTtl(cert_ttl);
      if (!ttl) fail("up", ttl.error());
      o.cert_ttl_seconds = *ttl;
    }
    if (o.kubernetes && !extra_pods.empty()) {
      fail("up", makeError("--extra-pod is for local mode; a Kubernetes-mode lab adds pods with "
                           "`ambitctl lab pod add` after up"));
    }
    for (const auto& spec : extra_pods) {
      auto pod = lab::parseExtraPod(spec);
      if (!pod) fail("up", pod.error());
      o.extra_pods.push_back(std::move(*pod));
    }
    if (o.kubernetes) o.daemons = lab::kubernetesNodeDaemons();
    for (auto& d : o.daemons) {
      if (d.name == "ztunnel")
        d.args.insert(d.args.end(), ztunnel_args.begin(), ztunnel_args.end());
    }
    if (Status s = lab::labUp(o); !s) fail("up", s.error());
    auto status = lab::labStatus(o);
    if (!status) fail("up", status.error());
    fmt::print("lab {} is up: {} nodes, {} pods; config in {}\n", status->lab, status->nodes.size(),
               status->pods.size(), status->config_dir);
  });
}

void addStatus(CLI::App& lab, lab::LabOptions& o, std::string& format) {
  auto* status = lab.add_subcommand("status", "show nodes, pods and processes of the lab");
  addLabIdentity(*status, o);
  status->add_option("-o,--output", format, "text|json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  status->callback([&o, &format] {
    auto s = lab::labStatus(o);
    if (!s) fail("status", s.error());
    if (format == "json") {
      std::cout << lab::toJson(*s).dump(2) << "\n";
    } else {
      std::cout << lab::formatStatus(*s);
    }
  });
}

void addExec(CLI::App& lab, lab::LabOptions& o, std::string& pod, std::vector<std::string>& argv) {
  auto* exec = lab.add_subcommand(
      "exec", "run a command inside a pod's netns and cgroup: lab exec POD -- CMD [ARGS...]");
  addLabIdentity(*exec, o);
  exec->add_option("pod", pod, "pod name (see lab status)")->required();
  exec->add_option("command", argv, "command and arguments (after --)")->required();
  exec->callback([&o, &pod, &argv] {
    auto code = lab::labExec(o, pod, argv);
    if (!code) fail("exec", code.error());
    std::fflush(stdout);
    std::exit(*code);
  });
}

// `lab pod add NAME --node N [--namespace NS] [--label k=v]... [--service-account SA]` and
// `lab pod delete NAME` (Kubernetes mode).
void addPod(CLI::App& lab, lab::LabOptions& o) {
  static lab::ExtraPod pod;
  static std::vector<std::string> labels;
  auto* cmd = lab.add_subcommand("pod", "Kubernetes mode: start or remove a pod after up");
  cmd->require_subcommand(1);
  auto* add = cmd->add_subcommand("add", "start a pod on a node (the lab plays its kubelet)");
  addLabIdentity(*add, o);
  add->add_option("pod", pod.name, "pod name")->required();
  add->add_option("--node", pod.node, "node to run it on (node<i>)")->required();
  add->add_option("--namespace", pod.namespace_name, "namespace")->capture_default_str();
  add->add_option("--service-account", pod.service_account, "service account [the pod's name]");
  add->add_option("--label", labels, "label key=value (repeatable)");
  add->callback([&o] {
    for (const auto& l : labels) {
      auto eq = l.find('=');
      if (eq == std::string::npos || eq == 0) {
        fail("pod add", makeError("--label '{}': expected key=value", l));
      }
      pod.labels[l.substr(0, eq)] = l.substr(eq + 1);
    }
    if (Status s = lab::labPodAdd(o, pod); !s) fail("pod add", s.error());
  });
  static std::string name;
  auto* del = cmd->add_subcommand("delete", "remove a pod started with `lab pod add`");
  addLabIdentity(*del, o);
  del->add_option("pod", name, "pod name")->required();
  del->callback([&o] {
    if (Status s = lab::labPodDelete(o, name); !s) fail("pod delete", s.error());
  });
}

// Internal: the process `lab up --kubernetes` starts to reach the API server (api_relay.h).
void addApiRelay(CLI::App& lab, lab::ApiRelayOptions& o) {
  auto* relay = lab.add_subcommand("api-relay", "(internal) relay to the API server for lab nodes");
  relay->group("");  // hidden
  relay->add_option("--listen-netns", o.listen_netns, "netns to listen in")->required();
  relay->add_option("--listen", o.listen, "host:port to listen on")->required();
  relay->add_option("--upstream", o.upstream, "API server host:port")->required();
  relay->callback([&o] {
    Status s = lab::runApiRelay(o);
    fail("api-relay", s.error());
  });
}

// Internal: the process `lab up` starts to restart crashed lab processes (supervisor.h).
void addSupervise(CLI::App& lab, lab::LabOptions& o) {
  auto* supervise = lab.add_subcommand("supervise", "(internal) restart crashed lab processes");
  supervise->group("");  // hidden
  addLabIdentity(*supervise, o);
  supervise->callback([&o] {
    if (Status s = lab::runSupervisor(lab::stateFilePath(o)); !s) fail("supervise", s.error());
  });
}

}  // namespace

void addLabCommands(CLI::App& app) {
  // Parsed values must outlive parsing: the callbacks run after add* returns.
  static lab::LabOptions options;
  static std::string format = "text", pod;
  static std::vector<std::string> argv;
  auto* lab = app.add_subcommand("lab", "single-machine lab: nodes and pods as network namespaces");
  lab->require_subcommand(1);
  addUp(*lab, options);
  auto* down = lab->add_subcommand("down", "remove everything the lab created (idempotent)");
  addLabIdentity(*down, options);
  down->callback([] {
    if (Status s = lab::labDown(options); !s) fail("down", s.error());
  });
  addStatus(*lab, options, format);
  addExec(*lab, options, pod, argv);
  addPod(*lab, options);
  static lab::ApiRelayOptions relay;
  addApiRelay(*lab, relay);
  addSupervise(*lab, options);
}

}  // namespace ambit::cli
