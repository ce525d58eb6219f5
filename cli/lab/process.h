#pragma once
// Processes inside lab pods and nodes. A process is identified by pid AND its start time
// (/proc/<pid>/stat field 22), so a recycled pid is never mistaken for ours; signals go through
// a pidfd opened after the identity check, so they cannot hit a process that replaced ours.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::lab {

struct ProcessId {
  int pid = 0;
  uint64_t start_time = 0;
};

// Start time of pid in clock ticks since boot; error if there is no such process.
Result<uint64_t> processStartTime(int pid);

// True while the process exists, is not a zombie and still has the recorded start time.
bool isAlive(const ProcessId& id);

// The wait status of a process that has exited but is not reaped yet (a zombie with the
// recorded start time: /proc/<pid>/stat field 52); nullopt otherwise.
std::optional<int> zombieExitStatus(const ProcessId& id);

// Where and what to run. The process joins cgroup_dir (if set) and then the network namespace
// at netns_path (required) before exec, so it never runs in the host netns by accident.
struct LaunchSpec {
  std::vector<std::string>
      argv;  // argv[0]: a path (detached) or a name looked up in PATH (foreground)
  std::string netns_path;
  std::string cgroup_dir;
  std::string log_file;  // detached only: stdout and stderr are appended here
};

// Starts a long-running process detached from the caller (double fork, own session) so it
// survives `ambitctl` and is never a zombie of it. `record` is called with the identity before
// the process execs; if it fails (or the caller dies first), the process exits without exec.
Result<ProcessId> spawnDetached(const LaunchSpec& spec,
                                const std::function<Status(const ProcessId&)>& record);

// Runs in the foreground with the caller's stdio; returns its exit code (128+signal if killed).
Result<int> runForeground(const LaunchSpec& spec);

// SIGTERM, then SIGKILL if still alive after `grace`. A process that is already gone (or whose
// pid now belongs to another process) is left alone and counts as stopped.
Status stopProcess(const ProcessId& id, std::chrono::milliseconds grace);

}  // namespace ambit::lab
