#pragma once
// Child processes for tests: run a command to completion with its output captured and a
// deadline, or keep one running (a peer, a daemon the test owns) and stop it by PID when the
// owner goes away, also after a failed ASSERT.
//
// The child gets /dev/null as stdin, optionally extra environment, another network namespace
// (setns before exec, so unlike `ip netns exec` nothing is remounted) and its own process group.
// Everything the child needs is prepared before fork(): callers may have other threads running.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::test {

struct Command {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  std::vector<std::string> env;   // "NAME=value", set on top of this process's environment
  std::string netns;              // a netns file (/run/netns/<name>); empty: this process's
  std::string log_file;           // stdout and stderr appended here; empty: captured in pipes
  bool merge_stderr = false;      // captured stderr goes to stdout, like 2>&1
  bool inherit_stderr = false;    // stderr is this process's (a peer's diagnostics in the test log)
  bool own_process_group = false;  // setpgid(0, 0) in the child
};

struct CommandOutput {
  int exit_code = -1;  // 128+signal when killed; 127 when exec failed; -1 when it did not start
  std::string out;
  std::string err;         // or why it did not start
  bool timed_out = false;  // killed (SIGKILL) at the deadline
};

// Runs the command to completion, capturing its output; SIGKILL at `timeout`.
CommandOutput run(const Command& command,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
CommandOutput run(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
// /bin/sh -c `script`; with merge_stderr the output is in `out` like `script 2>&1`.
CommandOutput sh(const std::string& script,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60),
                 bool merge_stderr = false);

// A process the test owns. Destruction stops it (SIGTERM, then SIGKILL after a grace period)
// and reaps it, by PID only.
class Subprocess {
 public:
  enum class Stream { kOut, kErr };

  Subprocess() = default;
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  ~Subprocess();

  // Starts `command` (stopping whatever this object ran before). An error when the log file,
  // the netns or a pipe cannot be opened or fork fails; a failed exec shows as exit status 127.
  [[nodiscard]] Status start(const Command& command);

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` while it runs; nothing otherwise.
  void signal(int sig);
  // Waits for the exit status (128+signal when killed); nullopt when still running at `timeout`.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  // SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps it. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(8));
  // SIGKILL and reap.
  void kill();

  // With captured output: the next line (without '\n') of the stream; nullopt at EOF or when
  // no complete line arrived within `timeout` (a partial line is kept for the next call).
  std::optional<std::string> readLine(Stream stream, std::chrono::milliseconds timeout);
  // With captured output: reads both streams to EOF (SIGKILL at `timeout`), then reaps.
  CommandOutput finish(std::chrono::milliseconds timeout);

 private:
  void reset();

  pid_t pid_ = -1;
  std::optional<int> status_;
  UniqueFd out_, err_;
  std::string out_buf_, err_buf_;
};

// <build dir>/bin/<name>: a binary of this build.
std::string binary(const std::string& name);

// True when /proc has no such process or it is a zombie.
bool processGone(pid_t pid);
// The process's argv from /proc/<pid>/cmdline; empty when it is gone.
std::vector<std::string> processArgv(pid_t pid);

}  // namespace ambit::test
