#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "tests/support/files.h"

extern char** environ;

namespace ambit::test {
namespace {

using Clock = std::chrono::steady_clock;

int decodeStatus(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// This process's environment with `overrides` ("NAME=value") replacing or adding entries.
std::vector<std::string> environmentWith(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& o : overrides) replaced = replaced || o.substr(0, o.find('=')) == name;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

Result<UniqueFd> openFd(const std::string& path, int flags, const char* what) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (!fd) return errnoError(fmt::format("open {} {}", what, path));
  return fd;
}

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> makePipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errnoError("pipe2");
  return Pipe{UniqueFd(p[0]), UniqueFd(p[1])};
}

// Appends what is readable on `fd` to `buf`; closes `fd` at EOF or error. False when closed.
bool readSome(UniqueFd& fd, std::string& buf) {
  char chunk[65536];
  ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    fd.reset();
    return false;
  }
  buf.append(chunk, static_cast<size_t>(n));
  return true;
}

int msUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

}  // namespace

CommandOutput run(const Command& command, std::chrono::milliseconds timeout) {
  Subprocess p;
  if (Status st = p.start(command); !st) {
    CommandOutput r;
    r.err = st.message();
    return r;
  }
  return p.finish(timeout);
}

CommandOutput run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  return run(Command{.argv = argv}, timeout);
}

CommandOutput sh(const std::string& script, std::chrono::milliseconds timeout, bool merge_stderr) {
  return run(Command{.argv = {"/bin/sh", "-c", script}, .merge_stderr = merge_stderr}, timeout);
}

Subprocess::Subprocess(Subprocess&& other) noexcept { *this = std::move(other); }

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
    out_buf_ = std::move(other.out_buf_);
    err_buf_ = std::move(other.err_buf_);
  }
  return *this;
}

Subprocess::~Subprocess() { stop(); }

void Subprocess::reset() {
  stop();
  pid_ = -1;
  status_.reset();
  out_.reset();
  err_.reset();
  out_buf_.clear();
  err_buf_.clear();
}

Status Subprocess::start(const Command& command) {
  reset();
  if (command.argv.empty()) return makeError("start: empty argv");
  std::vector<std::string> argv_strings = command.argv;
  std::vector<std::string> env_strings = environmentWith(command.env);
  std::vector<char*> argv = cStrings(argv_strings);
  std::vector<char*> envp = cStrings(env_strings);

  auto devnull = openFd("/dev/null", O_RDONLY, "stdin");
  AMBIT_TRY(devnull);
  UniqueFd log, netns;
  if (!command.log_file.empty()) {
    auto fd = openFd(command.log_file, O_WRONLY | O_CREAT | O_APPEND, "log file");
    AMBIT_TRY(fd);
    log = std::move(*fd);
  }
  if (!command.netns.empty()) {
    auto fd = openFd(command.netns, O_RDONLY, "netns");
    AMBIT_TRY(fd);
    netns = std::move(*fd);
  }
  Pipe out, err;
  if (!log) {
    auto o = makePipe();
    AMBIT_TRY(o);
    out = std::move(*o);
    if (!command.merge_stderr && !command.inherit_stderr) {
      auto e = makePipe();
      AMBIT_TRY(e);
      err = std::move(*e);
    }
  }
  const int out_fd = log ? log.get() : out.write.get();
  const int err_fd = log                      ? log.get()
                     : command.inherit_stderr ? STDERR_FILENO
                     : command.merge_stderr   ? out_fd
                                              : err.write.get();

  pid_t pid = ::fork();
  if (pid < 0) return errnoError("fork");
  if (pid == 0) {  // only async-signal-safe calls from here on
    if (command.own_process_group) ::setpgid(0, 0);
    if (netns && ::setns(netns.get(), CLONE_NEWNET) != 0) ::_exit(126);
    if (::dup2(devnull->get(), 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
      ::_exit(126);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  out_ = std::move(out.read);
  err_ = std::move(err.read);
  return Status::ok();
}

bool Subprocess::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = decodeStatus(st);
    return false;
  }
  return r == 0;
}

void Subprocess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Subprocess::waitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void Subprocess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!waitExit(grace)) kill();
}

void Subprocess::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  if (::waitpid(pid_, &st, 0) == pid_) status_ = decodeStatus(st);
}

std::optional<std::string> Subprocess::readLine(Stream stream, std::chrono::milliseconds timeout) {
  UniqueFd& fd = stream == Stream::kOut ? out_ : err_;
  std::string& buf = stream == Stream::kOut ? out_buf_ : err_buf_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (size_t nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    if (!fd) {  // EOF: what is left is the last line
      if (buf.empty()) return std::nullopt;
      return std::exchange(buf, "");
    }
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, msUntil(deadline));
    if (n < 0 && errno != EINTR) return std::nullopt;
    if (n == 0) return std::nullopt;
    if (n > 0) readSome(fd, buf);
  }
}

CommandOutput Subprocess::finish(std::chrono::milliseconds timeout) {
  CommandOutput r;
  const auto deadline = Clock::now() + timeout;
  while (out_ || err_) {
    if (Clock::now() >= deadline) {
      r.timed_out = true;
      kill();
      break;
    }
    std::vector<pollfd> fds;
    if (out_) fds.push_back({out_.get(), POLLIN, 0});
    if (err_) fds.push_back({err_.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), msUntil(deadline)) < 0 && errno != EINTR) break;
    for (const auto& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (p.fd == out_.get()) {
        readSome(out_, out_buf_);
      } else {
        readSome(err_, err_buf_);
      }
    }
  }
  out_.reset();
  err_.reset();
  if (!r.timed_out && !waitExit(std::chrono::milliseconds(msUntil(deadline)))) {
    r.timed_out = true;
    kill();
  }
  r.exit_code = status_.value_or(-1);
  r.out = std::exchange(out_buf_, "");
  r.err = std::exchange(err_buf_, "");
  return r;
}

std::string binary(const std::string& name) {
  return std::string(AMBIT_BINARY_DIR) + "/bin/" + name;
}

bool processGone(pid_t pid) {
  const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::vector<std::string> processArgv(pid_t pid) {
  const std::string raw = readFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  for (size_t at = 0; at < raw.size();) {
    size_t end = raw.find('\0', at);
    if (end == std::string::npos) end = raw.size();
    argv.push_back(raw.substr(at, end - at));
    at = end + 1;
  }
  return argv;
}

}  // namespace ambit::test
