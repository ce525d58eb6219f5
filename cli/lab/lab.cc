#include "cli/lab/lab.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/lab/intent.h"
#include "cli/lab/kube_lab.h"
#include "cli/lab/lab_yaml.h"
#include "cli/lab/network.h"
#include "cli/lab/process.h"
#include "cli/lab/state.h"
#include "cli/lab/subprocess.h"
#include "cli/lab/supervisor.h"
#include "common/cgroup.h"
#include "common/log.h"
#include "common/netns.h"
#include "common/unique_fd.h"

namespace ambit::lab {
namespace fs = std::filesystem;
namespace {

constexpr auto kAppReadyTimeout = std::chrono::seconds(10);

void pausePoint(const std::string& step) {
  const char* want = std::getenv("AMBIT_LAB_PAUSE_AFTER");
  if (want == nullptr || step != want) return;
  fmt::print(stderr, "ambitctl lab: paused after {} (AMBIT_LAB_PAUSE_AFTER)\n", step);
  std::fflush(stderr);
  for (;;) ::pause();
}

Status recordCleanup(Intent& intent, std::vector<std::string> cmd) {
  auto& list = intent.state().cleanup_commands;
  if (std::find(list.begin(), list.end(), cmd) != list.end()) return Status::ok();
  list.push_back(std::move(cmd));
  return intent.save();
}

Result<LabState> loadOrCreateState(const Topology& t) {
  auto existing = loadState(t.state_file);
  if (!existing && existing.error().code != ENOENT) return existing.error();
  if (existing) {
    if (existing->nodes != t.options.nodes || existing->config_dir != t.options.config_dir ||
        existing->waypoint != t.options.waypoint || existing->kubernetes != t.options.kubernetes) {
      return makeError(
          "lab '{}' is already up with {} nodes, config dir {} and {}waypoint; run `ambitctl lab "
          "down --name {}` first to change its shape",
          t.options.name, existing->nodes, existing->config_dir, existing->waypoint ? "a " : "no ",
          t.options.name);
    }
    // Kubernetes mode records the pods of `lab pod add` here; local mode those of --extra-pod.
    if (!t.options.kubernetes && existing->extra_pods != t.options.extra_pods) {
      return makeError(
          "lab '{}' is already up with {} extra pods; `lab up` asks for {}: run `ambitctl lab down "
          "--name {}` first to change its pods",
          t.options.name, existing->extra_pods.size(), t.options.extra_pods.size(), t.options.name);
    }
    existing->bin_dir = t.options.bin_dir;
    return existing;
  }
  LabState s;
  s.lab = t.options.name;
  s.nodes = t.options.nodes;
  s.waypoint = t.options.waypoint;
  s.kubernetes = t.options.kubernetes;
  s.kubeconfig = t.options.kubeconfig;
  s.extra_pods = t.options.extra_pods;
  s.run_dir = t.options.run_dir;
  s.config_dir = t.options.config_dir;
  s.bin_dir = t.options.bin_dir;
  return s;
}

Status buildNetwork(const Topology& t, Intent& intent) {
  auto record = [&](const std::string& ns) { return intent.add(&LabState::netns, ns); };
  AMBIT_TRY(ensureUnderlay(t, record));
  pausePoint("underlay");
  for (const auto& n : t.nodes) {
    Status s = ensureNode(t, n, record);
    if (!s) return s.error().context("node " + n.name);
    pausePoint("node:" + n.name);
  }
  for (const auto& p : t.pods) {
    Status s = ensurePod(t, p, record);
    if (!s) return s.error().context("pod " + p.name);
    pausePoint("pod:" + p.name);
  }
  return Status::ok();
}

Status buildCgroups(const Topology& t, const std::string& mount, Intent& intent) {
  AMBIT_TRY(ensureCgroup(intent, labCgroupRoot(mount, t)));
  for (const auto& n : t.nodes) {
    AMBIT_TRY(ensureCgroup(intent, nodeCgroup(mount, t, n)));
    if (t.options.kubernetes) {
      // The kubelet's layout (cgroupfs driver): kubepods/<qos>/pod<uid>/<container>.
      std::string qos = nodeCgroup(mount, t, n) + "/kubepods/burstable";
      AMBIT_TRY(ensureCgroup(intent, nodeCgroup(mount, t, n) + "/kubepods"));
      AMBIT_TRY(ensureCgroup(intent, qos));
      for (const auto& p : t.pods) {
        if (p.node != n.name || deployedByControl(t, p)) continue;
        if (p.uid.empty()) return makeError("pod {}: no uid from the API server yet", p.name);
        AMBIT_TRY(ensureCgroup(intent, qos + "/pod" + p.uid));
        AMBIT_TRY(ensureCgroup(intent, podCgroup(mount, t, p)));
      }
      continue;
    }
    for (const auto& p : t.pods) {
      if (p.node == n.name) AMBIT_TRY(ensureCgroup(intent, podCgroup(mount, t, p)));
    }
  }
  if (t.options.daemons.empty()) return Status::ok();
  AMBIT_TRY(ensureCgroup(intent, labCgroupRoot(mount, t) + "/system"));
  for (const auto& n : t.nodes) {
    for (const auto& d : t.options.daemons) {
      AMBIT_TRY(ensureCgroup(intent, daemonCgroup(mount, t, n, d.name)));
    }
  }
  return Status::ok();
}

Status writeConfig(const Topology& t, Intent& intent) {
  AMBIT_TRY(ensureDir(intent, t.options.config_dir));
  for (const auto& [name, content] : renderConfig(t)) {
    std::string path = t.options.config_dir + "/" + name;
    AMBIT_TRY(intent.add(&LabState::files, path));
    AMBIT_TRY(writeFileAtomic(path, content));
  }
  return Status::ok();
}

Result<std::map<std::string, std::string>> daemonVars(const Topology& t, const NodeSpec& n,
                                                      const std::string& mount) {
  return std::map<std::string, std::string>{{"lab", t.options.name},
                                            {"node", n.name},
                                            {"node_index", std::to_string(n.index)},
                                            {"netns", n.netns},
                                            {"netns_path", netnsPath(n.netns)},
                                            {"node_ipv4", n.underlay_ipv4},
                                            {"node_ipv6", n.underlay_ipv6},
                                            {"gateway_ipv4", n.gateway_v4},
                                            {"gateway_ipv6", n.gateway_v6},
                                            {"config_dir", t.options.config_dir},
                                            {"cgroup", nodeCgroup(mount, t, n)},
                                            {"state_dir", t.node_state_root + "/" + n.name},
                                            {"run_dir", t.options.run_dir},
                                            {"control_address", controlAddress(t)},
                                            {"kubelet_root", "/" + t.cgroup_subdir + "/" + n.name},
                                            {"bin_dir", t.options.bin_dir}};
}

Status startDaemons(const Topology& t, const std::string& mount, Intent& intent) {
  if (t.options.daemons.empty()) return Status::ok();
  AMBIT_TRY(ensureDir(intent, t.node_state_root));
  for (const auto& n : t.nodes) {
    auto vars = daemonVars(t, n, mount);
    AMBIT_TRY(vars);
    AMBIT_TRY(ensureDir(intent, t.node_state_root + "/" + n.name));
    for (const auto& d : t.options.daemons) {
      LaunchSpec spec{.netns_path = netnsPath(n.netns),
                      .cgroup_dir = daemonCgroup(mount, t, n, d.name)};
      auto bin = expandPlaceholders(d.binary, *vars);
      AMBIT_TRY(bin);
      spec.argv.push_back(*bin);
      for (const auto& a : d.args) {
        auto arg = expandPlaceholders(a, *vars);
        AMBIT_TRY(arg);
        spec.argv.push_back(*arg);
      }
      auto log = expandPlaceholders(
          d.log_file.empty() ? "{run_dir}/logs/{node}-" + d.name + ".log" : d.log_file, *vars);
      AMBIT_TRY(log);
      spec.log_file = *log;
      if (!d.cleanup_args.empty()) {
        std::vector<std::string> cmd{*bin};
        for (const auto& a : d.cleanup_args) {
          auto arg = expandPlaceholders(a, *vars);
          AMBIT_TRY(arg);
          cmd.push_back(*arg);
        }
        AMBIT_TRY(recordCleanup(intent, std::move(cmd)));
      }
      AMBIT_TRY(ensureProcess(intent, "daemon", n.name + "/" + d.name, spec));
    }
  }
  return Status::ok();
}

bool appAccepts(const PodSpec& p) {
  auto ns = openNetns(netnsPath(p.netns));
  if (!ns) return false;
  auto r = inNetns(ns->get(), [&]() -> Result<bool> {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(p.ready_port));
    ::inet_pton(AF_INET, p.ipv4.c_str(), &a.sin_addr);
    return s && ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  });
  return r && *r;
}

// A pod's own command with its node's placeholders and {pod} expanded.
Result<std::vector<std::string>> podCommand(const Topology& t, const PodSpec& p,
                                            const std::string& mount) {
  const NodeSpec* node = t.findNode(p.node);
  if (!node) return makeError("pod {}: unknown node {}", p.name, p.node);
  auto vars = daemonVars(t, *node, mount);
  AMBIT_TRY(vars);
  (*vars)["pod"] = p.name;
  std::vector<std::string> argv;
  for (const auto& a : p.command) {
    auto arg = expandPlaceholders(a, *vars);
    AMBIT_TRY(arg);
    argv.push_back(std::move(*arg));
  }
  return argv;
}

// Waits until every daemon with a ready_url answers it from its node's netns (the ztunnel is
// ready once it serves every enrolled pod), so traffic right after `lab up` goes through the mesh.
Status waitDaemonsReady(const Topology& t) {
  constexpr auto kTimeout = std::chrono::seconds(30);
  for (const auto& n : t.nodes) {
    for (const auto& d : t.options.daemons) {
      if (d.ready_url.empty()) continue;
      auto deadline = std::chrono::steady_clock::now() + kTimeout;
      for (;;) {
        auto r = runCommand({"ip", "netns", "exec", n.netns, "curl", "-sf", "-o", "/dev/null", "-m",
                             "1", d.ready_url});
        if (r && r->exit_code == 0) break;
        if (std::chrono::steady_clock::now() > deadline) {
          return makeError("{} on {} not ready after {}s ({}); see {}/logs/{}-{}.log", d.name,
                           n.name, kTimeout.count(), d.ready_url, t.options.run_dir, n.name,
                           d.name);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  return Status::ok();
}

Status startApps(const Topology& t, const std::string& mount, Intent& intent) {
  for (const auto& p : t.pods) {
    AMBIT_TRY(startPodApp(t, mount, intent, p));
    pausePoint("app:" + p.name);
  }
  for (const auto& p : t.pods) AMBIT_TRY(waitPodAccepts(t, p));
  return Status::ok();
}

// Last, so it never restarts a process `up` is still starting; it runs beside the node daemons
// (outside every node's pod subtree) and is the first thing `down` stops.
Status startSupervisor(const Topology& t, const std::string& mount, Intent& intent) {
  std::string cgroup = labCgroupRoot(mount, t) + "/system";
  AMBIT_TRY(ensureCgroup(intent, cgroup));
  AMBIT_TRY(ensureCgroup(intent, cgroup + "/supervisor"));
  auto spec = supervisorLaunchSpec(t, cgroup + "/supervisor");
  AMBIT_TRY(spec);
  return ensureProcess(intent, kSupervisorKind, kSupervisorKind, *spec);
}

}  // namespace

Status startPodApp(const Topology& t, const std::string& mount, Intent& intent, const PodSpec& p) {
  std::string app = t.options.bin_dir + "/ambit-sample-app";
  if (::access(app.c_str(), X_OK) != 0) {
    return errnoError(fmt::format("sample app {} (build it: ninja ambit-sample-app)", app));
  }
  LaunchSpec spec{
      .argv = {app, "--port", std::to_string(kAppPort), "--pod", p.name, "--version", p.version()},
      .netns_path = netnsPath(p.netns),
      .cgroup_dir = podCgroup(mount, t, p),
      .log_file = t.log_dir + "/" + p.name + ".log"};
  if (!p.command.empty()) {
    auto argv = podCommand(t, p, mount);
    AMBIT_TRY(argv);
    spec.argv = std::move(*argv);
  }
  return ensureProcess(intent, "app", p.name, spec);
}

Status waitPodAccepts(const Topology& t, const PodSpec& p) {
  auto deadline = std::chrono::steady_clock::now() + kAppReadyTimeout;
  while (!appAccepts(p)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return makeError("app in pod {} does not accept on {}:{} (see {}/{}.log)", p.name, p.ipv4,
                       p.ready_port, t.log_dir, p.name);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::ok();
}

Status ensureDir(Intent& intent, const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return Status::ok();  // ours if recorded, else the user's
  AMBIT_TRY(intent.add(&LabState::dirs, dir));
  fs::create_directories(dir, ec);
  if (ec) return makeError("create directory {}: {}", dir, ec.message());
  return Status::ok();
}

Status ensureCgroup(Intent& intent, const std::string& dir) {
  AMBIT_TRY(intent.add(&LabState::cgroups, dir));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return errnoError(fmt::format("create cgroup {}", dir));
  }
  return Status::ok();
}

Status writeLabFile(Intent& intent, const std::string& path, const std::string& content) {
  AMBIT_TRY(intent.add(&LabState::files, path));
  return writeFileAtomic(path, content);
}

Status ensureProcess(Intent& intent, const std::string& kind, const std::string& name,
                     const LaunchSpec& spec) {
  LabState& s = intent.state();
  ProcessRecord* rec = s.findProcess(kind, name);
  if (rec != nullptr && isAlive({rec->pid, rec->start_time})) return Status::ok();
  if (rec == nullptr) {
    s.processes.push_back(ProcessRecord{kind, name, 0, 0, spec.log_file});
  }
  AMBIT_TRY(intent.add(&LabState::files, spec.log_file));
  AMBIT_TRY(intent.save());
  auto started = spawnDetached(spec, [&](const ProcessId& id) {
    ProcessRecord* r = s.findProcess(kind, name);
    r->pid = id.pid;
    r->start_time = id.start_time;
    r->log_file = spec.log_file;
    r->argv = spec.argv;
    r->netns_path = spec.netns_path;
    r->cgroup_dir = spec.cgroup_dir;
    return intent.save();
  });
  if (!started) return started.error().context(fmt::format("start {} {}", kind, name));
  logInfo("started {} {} (pid {})", kind, name, started->pid);
  return Status::ok();
}

std::string labCgroupRoot(const std::string& mount, const Topology& t) {
  return mount + "/" + t.cgroup_subdir;
}
std::string nodeCgroup(const std::string& mount, const Topology& t, const NodeSpec& n) {
  return labCgroupRoot(mount, t) + "/" + n.name;
}
std::string podCgroup(const std::string& mount, const Topology& t, const PodSpec& p) {
  if (t.options.kubernetes) {
    return fmt::format("{}/{}/kubepods/burstable/pod{}/app", labCgroupRoot(mount, t), p.node,
                       p.uid);
  }
  return labCgroupRoot(mount, t) + "/" + p.node + "/" + p.name;
}
std::string daemonCgroup(const std::string& mount, const Topology& t, const NodeSpec& n,
                         const std::string& daemon) {
  return labCgroupRoot(mount, t) + "/system/" + n.name + "-" + daemon;
}

std::string stateFilePath(const LabOptions& o) {
  return (o.run_dir.empty() ? fmt::format("/run/{}-lab", o.name) : o.run_dir) + "/state.json";
}

Status labUp(const LabOptions& options) {
  auto t = buildTopology(options);
  AMBIT_TRY(t);
  auto mount = ensureCgroup2Mount();
  AMBIT_TRY(mount);
  std::error_code ec;
  bool fresh_run_dir = !fs::exists(t->options.run_dir, ec);
  fs::create_directories(t->options.run_dir, ec);
  if (ec) return makeError("create {}: {}", t->options.run_dir, ec.message());
  auto lock = lockRunDir(t->options.run_dir);
  AMBIT_TRY(lock);
  auto state = loadOrCreateState(*t);
  AMBIT_TRY(state);
  state->phase = "creating";
  Intent intent(*state, t->state_file);
  if (fresh_run_dir) AMBIT_TRY(intent.add(&LabState::dirs, t->options.run_dir));
  AMBIT_TRY(intent.save());
  AMBIT_TRY(ensureDir(intent, t->log_dir));
  AMBIT_TRY(buildNetwork(*t, intent));
  std::unique_ptr<KubeLab> kube;
  if (t->options.kubernetes) {
    auto opened = KubeLab::open(*t);
    AMBIT_TRY(opened);
    kube = std::move(*opened);
    AMBIT_TRY(kube->prepare(*t, intent, *mount));
  }
  AMBIT_TRY(buildCgroups(*t, *mount, intent));
  pausePoint("cgroups");
  if (kube) {
    AMBIT_TRY(kube->startControlPlane(*t, intent, *mount));
    AMBIT_TRY(kube->deployWaypoint(*t, intent, *mount));
  } else {
    AMBIT_TRY(writeConfig(*t, intent));
  }
  pausePoint("config");
  AMBIT_TRY(startDaemons(*t, *mount, intent));
  pausePoint("daemons");
  AMBIT_TRY(startApps(*t, *mount, intent));
  if (kube) AMBIT_TRY(kube->reportPodsRunning(*t));
  AMBIT_TRY(waitDaemonsReady(*t));
  if (t->options.supervise) AMBIT_TRY(startSupervisor(*t, *mount, intent));
  state->phase = "ready";
  AMBIT_TRY(intent.save());
  pausePoint("ready");
  return Status::ok();
}

}  // namespace ambit::lab
