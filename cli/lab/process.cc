#include "cli/lab/process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"

namespace ambit::lab {
namespace {

// What the grandchild reports to the launcher: its pid, or the stage that failed and errno.
struct LaunchReport {
  int stage = 0;  // 0: pid in value; otherwise a failing stage
  int value = 0;
};
constexpr int kStageCgroup = 1, kStageNetns = 2, kStageLog = 3, kStageExec = 4;

const char* stageName(int stage) {
  switch (stage) {
    case kStageCgroup:
      return "join cgroup";
    case kStageNetns:
      return "enter netns";
    case kStageLog:
      return "open log file";
    default:
      return "exec";
  }
}

struct ProcStat {
  char state = '?';
  uint64_t start_time = 0;
  std::optional<int> exit_code;  // field 52 (Linux 3.5+)
};

Result<ProcStat> readProcStat(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!in || !std::getline(in, line)) return errnoError(fmt::format("read /proc/{}/stat", pid));
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return makeError("malformed /proc/{}/stat", pid);
  std::istringstream rest(line.substr(close + 2));
  ProcStat st;
  rest >> st.state;
  std::string skip;
  for (int field = 4; field < 22; ++field) rest >> skip;  // fields 4..21
  rest >> st.start_time;
  if (!rest) return makeError("malformed /proc/{}/stat", pid);
  for (int field = 23; field < 52; ++field) rest >> skip;
  if (int code = 0; rest >> code) st.exit_code = code;
  return st;
}

// Async-signal-safe setup shared by both launch modes (runs in the forked child).
int enterPod(int cgroup_fd, int netns_fd) {
  if (cgroup_fd >= 0 && ::write(cgroup_fd, "0", 1) != 1) return kStageCgroup;
  if (::setns(netns_fd, CLONE_NEWNET) != 0) return kStageNetns;
  return 0;
}

struct PreparedFds {
  UniqueFd cgroup, netns;
};

Result<PreparedFds> prepare(const LaunchSpec& spec) {
  if (spec.argv.empty()) return makeError("launch: empty command");
  if (spec.netns_path.empty()) return makeError("launch {}: no netns given", spec.argv[0]);
  PreparedFds fds;
  fds.netns = UniqueFd(::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fds.netns) return errnoError(fmt::format("open netns {}", spec.netns_path));
  if (!spec.cgroup_dir.empty()) {
    std::string procs = spec.cgroup_dir + "/cgroup.procs";
    fds.cgroup = UniqueFd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fds.cgroup) return errnoError(fmt::format("open {}", procs));
  }
  return fds;
}

std::vector<char*> cArgv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

[[noreturn]] void grandchild(const PreparedFds& fds, int log_fd, int report_fd, int go_fd,
                             char* const* argv) {
  auto fail = [&](int stage) {
    LaunchReport r{stage, errno};
    (void)!::write(report_fd, &r, sizeof(r));
    ::_exit(127);
  };
  if (int stage = enterPod(fds.cgroup.get(), fds.netns.get()); stage != 0) fail(stage);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
    fail(kStageLog);
  }
  LaunchReport ok{0, static_cast<int>(::getpid())};
  if (::write(report_fd, &ok, sizeof(ok)) != sizeof(ok)) ::_exit(127);
  char go = 0;
  if (::read(go_fd, &go, 1) != 1) ::_exit(1);  // the launcher died before recording us
  // Only stdio crosses exec: a descriptor the caller left open (a test harness's flock, another
  // tool's socket) would otherwise live as long as the daemon and keep that lock held.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execv(argv[0], argv);
  fail(kStageExec);
  ::_exit(127);
}

Result<LaunchReport> readReport(int fd) {
  LaunchReport r;
  ssize_t n;
  do {
    n = ::read(fd, &r, sizeof(r));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return Error{0, ""};  // EOF: the write end was closed by a successful exec
  if (n != sizeof(r)) return makeError("launch: short report from child");
  return r;
}

}  // namespace

Result<uint64_t> processStartTime(int pid) {
  auto st = readProcStat(pid);
  AMBIT_TRY(st);
  return st->start_time;
}

bool isAlive(const ProcessId& id) {
  if (id.pid <= 0) return false;
  auto st = readProcStat(id.pid);
  return st && st->state != 'Z' && st->state != 'X' && st->start_time == id.start_time;
}

std::optional<int> zombieExitStatus(const ProcessId& id) {
  auto st = readProcStat(id.pid);
  if (!st || st->state != 'Z' || st->start_time != id.start_time) return std::nullopt;
  return st->exit_code;
}

Result<ProcessId> spawnDetached(const LaunchSpec& spec,
                                const std::function<Status(const ProcessId&)>& record) {
  auto fds = prepare(spec);
  AMBIT_TRY(fds);
  UniqueFd log(::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) return errnoError(fmt::format("open log {}", spec.log_file));
  int report[2], go[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd report_r(report[0]), report_w(report[1]);
  if (::pipe2(go, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd go_r(go[0]), go_w(go[1]);
  auto argv = cArgv(spec.argv);

  pid_t middle = ::fork();
  if (middle < 0) return errnoError("fork");
  if (middle == 0) {
    ::setsid();
    pid_t pid = ::fork();
    if (pid == 0) {
      go_w.reset();
      grandchild(*fds, log.get(), report_w.get(), go_r.get(), argv.data());
    }
    ::_exit(pid < 0 ? 1 : 0);
  }
  report_w.reset();
  go_r.reset();
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  auto first = readReport(report_r.get());
  if (!first) return makeError("launch {}: child exited before reporting", spec.argv[0]);
  if (first->stage != 0) {
    return errnoError(fmt::format("launch {}: {}", spec.argv[0], stageName(first->stage)),
                      first->value);
  }
  ProcessId id{first->value, 0};
  auto start = processStartTime(id.pid);
  AMBIT_TRY(start);
  id.start_time = *start;
  AMBIT_TRY(record(id));  // on failure go_w closes: the child exits without exec
  if (::write(go_w.get(), "g", 1) != 1) return errnoError("launch: release child");
  go_w.reset();
  auto after = readReport(report_r.get());
  if (after && after->stage != 0) {
    return errnoError(fmt::format("launch {}: {}", spec.argv[0], stageName(after->stage)),
                      after->value);
  }
  return id;
}

Result<int> runForeground(const LaunchSpec& spec) {
  auto fds = prepare(spec);
  AMBIT_TRY(fds);
  auto argv = cArgv(spec.argv);
  pid_t pid = ::fork();
  if (pid < 0) return errnoError("fork");
  if (pid == 0) {
    int stage = enterPod(fds->cgroup.get(), fds->netns.get());
    if (stage == 0) {
      ::execvp(argv[0], argv.data());
      stage = kStageExec;
    }
    int err = errno;
    dprintf(2, "ambitctl: %s %s: %s\n", stageName(stage), argv[0], strerror(err));
    ::_exit(127);
  }
  // Like system(): the child owns the terminal's interrupts while it runs.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGQUIT, &ignore, &old_quit);
  int status = 0;
  pid_t w;
  do {
    w = ::waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  if (w < 0) return errnoError("waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Status stopProcess(const ProcessId& id, std::chrono::milliseconds grace) {
  if (!isAlive(id)) return Status::ok();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, id.pid, 0)));
  if (!pidfd) return errno == ESRCH ? Status::ok() : Status(errnoError("pidfd_open"));
  if (!isAlive(id)) return Status::ok();  // pid recycled between the check and the open
  auto signal = [&](int sig) {
    return ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) == 0 || errno == ESRCH;
  };
  if (!signal(SIGTERM)) return errnoError(fmt::format("signal pid {}", id.pid));
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (isAlive(id) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!isAlive(id)) return Status::ok();
  if (!signal(SIGKILL)) return errnoError(fmt::format("kill pid {}", id.pid));
  for (int i = 0; i < 100 && isAlive(id); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (isAlive(id)) return makeError("pid {} survived SIGKILL", id.pid);
  return Status::ok();
}

}  // namespace ambit::lab
