#include "cli/lab/supervisor.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "cli/lab/state.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace ambit::lab {
namespace {

using Clock = RestartPolicy::Clock;
using std::chrono::milliseconds;

// PIDFD_GET_INFO (Linux 6.15): a pidfd's holder reads the exit status of a process that is not
// its child. The first published layout (PIDFD_INFO_SIZE_VER0, 64 bytes) is all we need.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
};
static_assert(sizeof(PidfdInfo) == 64);
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr uint64_t kPidfdInfoExit = 1ULL << 3;

// How often the state file is re-read for processes `lab up` / `lab pod add` started.
constexpr milliseconds kRescanInterval{1000};

// The pidfd publishes the status once the process is reaped (by init or a subreaper); until
// then the zombie's /proc/<pid>/stat carries it. Either can trail the pidfd's readiness.
std::string exitReason(int pidfd, const ProcessId& id) {
  for (int attempt = 0; attempt < 25; ++attempt) {
    PidfdInfo info{};
    info.mask = kPidfdInfoExit;
    if (::ioctl(pidfd, kPidfdGetInfo, &info) == 0 && (info.mask & kPidfdInfoExit) != 0) {
      return describeWaitStatus(info.exit_code);
    }
    if (auto status = zombieExitStatus(id)) return describeWaitStatus(*status);
    std::this_thread::sleep_for(milliseconds(2));
  }
  return "exit status unknown";
}

struct Watched {
  ProcessId id;
  UniqueFd pidfd;
  RestartPolicy policy;
  Clock::time_point started;
  std::optional<Clock::time_point> restart_at;  // set while it is down
};

class Supervisor {
 public:
  Supervisor(std::string state_file, RestartPolicyOptions policy)
      : state_file_(std::move(state_file)),
        run_dir_(std::filesystem::path(state_file_).parent_path().string()),
        policy_(policy) {}

  Status run() {
    logInfo("supervising the processes of {}", state_file_);
    for (;;) {
      auto state = loadState(state_file_);
      if (!state && state.error().code == ENOENT) {
        logInfo("{} is gone (lab down): supervisor exits", state_file_);
        return Status::ok();
      }
      if (state) {
        sync(*state);
      } else {
        logWarn("re-reading the lab state: {}", state.error().message);
      }
      waitAndReap();
      restartDue();
    }
  }

 private:
  static std::string key(const ProcessRecord& r) { return r.kind + " " + r.name; }
  static bool supervised(const ProcessRecord& r) {
    return r.kind != kSupervisorKind && r.pid != 0 && !r.argv.empty();
  }

  // Follows the state file: new records are watched, removed ones dropped, and a record whose
  // process someone else replaced is watched anew.
  void sync(const LabState& state) {
    std::map<std::string, bool> present;
    for (const auto& r : state.processes) {
      if (!supervised(r)) continue;
      present[key(r)] = true;
      auto [it, added] = watched_.try_emplace(key(r), Watched{.policy = RestartPolicy(policy_)});
      Watched& w = it->second;
      if (!added && w.id.pid == r.pid && w.id.start_time == r.start_time) continue;
      w.id = {r.pid, r.start_time};
      w.restart_at.reset();
      w.started = Clock::now();
      watch(it->first, w);
    }
    std::erase_if(watched_, [&](const auto& kv) { return !present.count(kv.first); });
  }

  void watch(const std::string& name, Watched& w) {
    w.pidfd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, w.id.pid, 0)));
    if (w.pidfd && isAlive(w.id)) return;
    w.pidfd.reset();
    exited(name, w, "not running when the supervisor looked");
  }

  void exited(const std::string& name, Watched& w, const std::string& reason) {
    auto now = Clock::now();
    milliseconds delay = w.policy.onExit(w.started, now);
    w.restart_at = now + delay;
    w.pidfd.reset();
    logWarn("{} (pid {}) exited: {}; restart in {} ms (crash loop {})", name, w.id.pid, reason,
            delay.count(), w.policy.crashLoopLength());
  }

  void waitAndReap() {
    std::vector<pollfd> fds;
    std::vector<std::pair<const std::string*, Watched*>> owners;
    auto timeout = kRescanInterval;
    auto now = Clock::now();
    for (auto& [name, w] : watched_) {
      if (w.restart_at) {
        auto left = std::chrono::duration_cast<milliseconds>(*w.restart_at - now);
        timeout = std::max(milliseconds(0), std::min(timeout, left));
      } else if (w.pidfd) {
        fds.push_back(pollfd{.fd = w.pidfd.get(), .events = POLLIN, .revents = 0});
        owners.emplace_back(&name, &w);
      }
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (n <= 0) return;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto [name, w] = owners[i];
      exited(*name, *w, exitReason(w->pidfd.get(), w->id));
    }
  }

  void restartDue() {
    auto now = Clock::now();
    for (auto& [name, w] : watched_) {
      if (w.restart_at && *w.restart_at <= now) restart(name, w);
    }
  }

  void restart(const std::string& name, Watched& w) {
    auto lock = lockRunDir(run_dir_, kWaitForever);
    auto state = lock ? loadState(state_file_) : Result<LabState>(lock.error());
    if (!state) {
      logError("restart {}: {}; retrying", name, state.error().message);
      w.restart_at = Clock::now() + w.policy.onExit(Clock::now(), Clock::now());
      return;
    }
    auto rec = std::find_if(state->processes.begin(), state->processes.end(),
                            [&](const ProcessRecord& r) { return key(r) == name; });
    if (rec == state->processes.end() || rec->pid != w.id.pid ||
        rec->start_time != w.id.start_time) {
      logInfo("{} was replaced or removed meanwhile: not restarting it", name);
      w.restart_at.reset();  // the next sync follows the record
      w.id = {};
      return;
    }
    LaunchSpec spec{.argv = rec->argv,
                    .netns_path = rec->netns_path,
                    .cgroup_dir = rec->cgroup_dir,
                    .log_file = rec->log_file};
    auto started = spawnDetached(spec, [&](const ProcessId& id) {
      rec->pid = id.pid;
      rec->start_time = id.start_time;
      ++rec->restarts;
      return saveState(state_file_, *state);
    });
    if (!started) {
      logError("restart {}: {}", name, started.error().message);
      exited(name, w, "restart failed");
      return;
    }
    w.id = *started;
    w.started = Clock::now();
    w.restart_at.reset();
    logInfo("restarted {} (pid {}; restart {} of the lab's life)", name, started->pid,
            rec->restarts);
    watch(name, w);
  }

  std::string state_file_, run_dir_;
  RestartPolicyOptions policy_;
  std::map<std::string, Watched> watched_;
};

}  // namespace

std::string describeWaitStatus(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("signal {} ({}){}", WTERMSIG(status), ::strsignal(WTERMSIG(status)),
                       WCOREDUMP(status) ? ", core dumped" : "");
  }
  return fmt::format("wait status {:#x}", status);
}

Status runSupervisor(const std::string& state_file, RestartPolicyOptions policy) {
  auto first = loadState(state_file);
  AMBIT_TRY(first);
  return Supervisor(state_file, policy).run();
}

Result<LaunchSpec> supervisorLaunchSpec(const Topology& t, const std::string& cgroup_dir) {
  // The lab's own ambitctl, not /proc/self/exe: labUp() also runs inside other programs (tests),
  // which would re-run themselves as the "supervisor".
  const std::string ambitctl = t.options.bin_dir + "/ambitctl";
  if (::access(ambitctl.c_str(), X_OK) != 0) {
    return errnoError(fmt::format("the supervisor's binary {}", ambitctl));
  }
  return LaunchSpec{.argv = {ambitctl, "--log-level", "info", "lab", "supervise", "--name",
                             t.options.name, "--run-dir", t.options.run_dir},
                    .netns_path = "/proc/self/ns/net",
                    .cgroup_dir = cgroup_dir,
                    .log_file = t.log_dir + "/supervisor.log"};
}

}  // namespace ambit::lab
