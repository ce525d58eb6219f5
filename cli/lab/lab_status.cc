// Reading a lab that is up: its topology, status and `lab exec`.
#include <filesystem>

#include "cli/lab/intent.h"
#include "cli/lab/lab.h"
#include "cli/lab/network.h"
#include "cli/lab/process.h"
#include "cli/lab/state.h"
#include "cli/lab/supervisor.h"
#include "common/cgroup.h"

namespace ambit::lab {
namespace {}  // namespace

Result<Topology> topologyFromState(const LabOptions& options, const LabState& state) {
  LabOptions o = options;
  o.name = state.lab;
  o.nodes = state.nodes;
  o.waypoint = state.waypoint;
  o.run_dir = state.run_dir;
  o.config_dir = state.config_dir;
  o.bin_dir = state.bin_dir;
  o.kubernetes = state.kubernetes;
  o.kubeconfig = state.kubeconfig;
  o.extra_pods = state.extra_pods;
  auto t = buildTopology(o);
  AMBIT_TRY(t);
  for (auto& p : t->pods) {
    if (auto it = state.pod_uids.find(p.name); it != state.pod_uids.end()) p.uid = it->second;
  }
  return t;
}

namespace {

Result<std::pair<Topology, LabState>> load(const LabOptions& options) {
  std::string path = stateFilePath(options);
  auto state = loadState(path);
  if (!state) {
    if (state.error().code == ENOENT) {
      return makeError("no lab '{}' is up (no state file {}); start one with `ambitctl lab up`",
                       options.name, path);
    }
    return state.error();
  }
  auto t = topologyFromState(options, *state);
  AMBIT_TRY(t);
  return std::pair<Topology, LabState>{std::move(*t), std::move(*state)};
}

}  // namespace

Result<Topology> openLab(const LabOptions& options) {
  auto l = load(options);
  AMBIT_TRY(l);
  return std::move(l->first);
}

Result<LabStatus> labStatus(const LabOptions& options) {
  auto l = load(options);
  AMBIT_TRY(l);
  auto& [t, state] = *l;
  auto mount = findCgroup2Mount();
  std::string m = mount ? *mount : "<no cgroup2 mount>";
  LabStatus s{.lab = t.options.name,
              .phase = state.phase,
              .run_dir = t.options.run_dir,
              .state_file = t.state_file,
              .config_dir = t.options.config_dir,
              .cgroup_root = labCgroupRoot(m, t),
              .underlay_netns = t.underlay_netns,
              .nodes = t.nodes};
  for (const auto& p : t.pods) {
    PodStatus ps{.spec = p, .cgroup = podCgroup(m, t, p)};
    if (ProcessRecord* r = state.findProcess("app", p.name)) {
      ps.pid = r->pid;
      ps.alive = isAlive({r->pid, r->start_time});
      ps.restarts = r->restarts;
    }
    s.pods.push_back(std::move(ps));
  }
  s.supervisor = DaemonStatus{.node = "lab", .name = kSupervisorKind};
  if (ProcessRecord* r = state.findProcess(kSupervisorKind, kSupervisorKind)) {
    s.supervisor.log_file = r->log_file;
    s.supervisor.pid = r->pid;
    s.supervisor.alive = isAlive({r->pid, r->start_time});
  }
  for (const auto& r : state.processes) {
    if (r.kind != "daemon") continue;
    auto slash = r.name.find('/');
    s.daemons.push_back(DaemonStatus{.node = r.name.substr(0, slash),
                                     .name = r.name.substr(slash + 1),
                                     .log_file = r.log_file,
                                     .pid = r.pid,
                                     .alive = isAlive({r.pid, r.start_time}),
                                     .restarts = r.restarts});
  }
  return s;
}

Result<int> labExec(const LabOptions& options, const std::string& pod,
                    const std::vector<std::string>& argv) {
  auto t = openLab(options);
  AMBIT_TRY(t);
  const PodSpec* p = t->findPod(pod);
  if (p == nullptr) {
    std::string names;
    for (const auto& q : t->pods) names += (names.empty() ? "" : ", ") + q.name;
    return makeError("no pod '{}' in lab '{}' (pods: {})", pod, t->options.name, names);
  }
  auto mount = findCgroup2Mount();
  AMBIT_TRY(mount);
  return runForeground(LaunchSpec{
      .argv = argv, .netns_path = netnsPath(p->netns), .cgroup_dir = podCgroup(*mount, *t, *p)});
}

nlohmann::json toJson(const LabStatus& s) {
  nlohmann::json nodes = nlohmann::json::array(), pods = nlohmann::json::array(),
                 daemons = nlohmann::json::array();
  for (const auto& n : s.nodes) {
    nodes.push_back({{"name", n.name},
                     {"netns", n.netns},
                     {"underlay_ipv4", n.underlay_ipv4},
                     {"underlay_ipv6", n.underlay_ipv6},
                     {"pod_cidr_v4", n.pod_cidr_v4},
                     {"pod_cidr_v6", n.pod_cidr_v6},
                     {"cgroup", s.cgroup_root + "/" + n.name}});
  }
  for (const auto& p : s.pods) {
    pods.push_back({{"name", p.spec.name},
                    {"namespace", p.spec.namespace_name},
                    {"node", p.spec.node},
                    {"ipv4", p.spec.ipv4},
                    {"ipv6", p.spec.ipv6},
                    {"netns", p.spec.netns},
                    {"netns_path", netnsPath(p.spec.netns)},
                    {"cgroup", p.cgroup},
                    {"labels", p.spec.labels},
                    {"service_account", p.spec.service_account},
                    {"version", p.spec.version()},
                    {"pid", p.pid},
                    {"alive", p.alive},
                    {"restarts", p.restarts}});
  }
  auto daemonJson = [](const DaemonStatus& d) {
    return nlohmann::json{{"node", d.node},   {"name", d.name},         {"pid", d.pid},
                          {"alive", d.alive}, {"restarts", d.restarts}, {"log_file", d.log_file}};
  };
  for (const auto& d : s.daemons) daemons.push_back(daemonJson(d));
  return {{"lab", s.lab},
          {"phase", s.phase},
          {"run_dir", s.run_dir},
          {"state_file", s.state_file},
          {"config_dir", s.config_dir},
          {"cgroup_root", s.cgroup_root},
          {"underlay_netns", s.underlay_netns},
          {"nodes", nodes},
          {"pods", pods},
          {"daemons", daemons},
          {"supervisor", daemonJson(s.supervisor)}};
}

std::string formatStatus(const LabStatus& s) {
  std::string out = fmt::format("lab {} ({})\nconfig dir: {}\ncgroups:    {}\n\n", s.lab, s.phase,
                                s.config_dir, s.cgroup_root);
  out += fmt::format("{:<8} {:<16} {:<14} {}\n", "NODE", "NETNS", "UNDERLAY-IPV4", "UNDERLAY-IPV6");
  for (const auto& n : s.nodes) {
    out +=
        fmt::format("{:<8} {:<16} {:<14} {}\n", n.name, n.netns, n.underlay_ipv4, n.underlay_ipv6);
  }
  out += fmt::format("\n{:<12} {:<7} {:<13} {:<20} {:<8} {:<8} {:<8} {}\n", "POD", "NODE", "IPV4",
                     "IPV6", "VERSION", "PID", "RESTARTS", "NETNS");
  for (const auto& p : s.pods) {
    out += fmt::format("{:<12} {:<7} {:<13} {:<20} {:<8} {:<8} {:<8} {}\n", p.spec.name,
                       p.spec.node, p.spec.ipv4, p.spec.ipv6, p.spec.version(),
                       p.alive ? std::to_string(p.pid) : "dead", p.restarts, p.spec.netns);
  }
  out += fmt::format("\n{:<8} {:<12} {:<8} {:<8} {}\n", "NODE", "DAEMON", "PID", "RESTARTS", "LOG");
  std::vector<DaemonStatus> rows = s.daemons;
  if (s.supervisor.pid != 0) rows.push_back(s.supervisor);
  for (const auto& d : rows) {
    out += fmt::format("{:<8} {:<12} {:<8} {:<8} {}\n", d.node, d.name,
                       d.alive ? std::to_string(d.pid) : "dead", d.restarts, d.log_file);
  }
  return out;
}

}  // namespace ambit::lab
