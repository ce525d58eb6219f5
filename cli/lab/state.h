#pragma once
// The lab's intent log: every object `lab up` creates is recorded here BEFORE it is created,
// so `lab down` can remove a lab that was interrupted at any point (even by kill -9).
// Saved atomically (write to a temp file, fsync, rename), so it is never half-written.

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/lab/topology.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::lab {

struct ProcessRecord {
  std::string kind;         // "app" (a pod's sample app) or "daemon" (a node daemon)
  std::string name;         // pod name, or "<node>/<daemon>"
  int pid = 0;              // 0 while the process is being started
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22; identifies the process with pid
  std::string log_file;
  // How it was launched (LaunchSpec minus log_file), so the supervisor restarts it the same
  // way; empty argv: not restartable (a state file written before the supervisor existed).
  std::vector<std::string> argv;
  std::string netns_path, cgroup_dir;
  int restarts = 0;  // by the supervisor, over the lab's life
};

struct LabState {
  int version = 1;
  std::string lab;
  std::string phase = "creating";  // "creating" until up finishes, then "ready"
  // The options that built the topology, so status/exec/down rebuild it exactly.
  int nodes = 0;
  bool waypoint = false;
  bool kubernetes = false;
  std::string kubeconfig;
  std::map<std::string, std::string> pod_uids;  // Kubernetes mode: pod name -> metadata.uid
  std::vector<ExtraPod> extra_pods;             // `lab pod add`, in order
  std::string run_dir, config_dir, bin_dir;
  std::vector<std::string> netns;    // names under /run/netns
  std::vector<std::string> cgroups;  // absolute paths, parents before children
  std::vector<std::string> dirs;     // absolute paths, parents before children
  std::vector<std::string> files;    // absolute paths
  std::vector<ProcessRecord> processes;
  // Commands `down` runs after stopping the daemons, to remove what they leave on purpose
  // (e.g. `ambit-agent --cleanup`: pinned eBPF objects outlive the agent by design).
  std::vector<std::vector<std::string>> cleanup_commands;

  // Adds v to list unless present; returns true if it was added.
  static bool addUnique(std::vector<std::string>& list, const std::string& v);
  ProcessRecord* findProcess(const std::string& kind, const std::string& name);
};

nlohmann::json toJson(const LabState& s);
Result<LabState> stateFromJson(const nlohmann::json& j);

// Missing file: an error with code ENOENT.
Result<LabState> loadState(const std::string& path);
Status saveState(const std::string& path, const LabState& s);

// Takes an exclusive lock on the lab's run dir (flock, released when the fd closes or the
// process dies), so two `lab up`/`lab down` of the same lab never interleave, and the
// supervisor never restarts a process while one of them works. Waits up to `wait` for a holder
// (the supervisor holds it for milliseconds per restart); kWaitForever blocks.
inline constexpr std::chrono::milliseconds kWaitForever = std::chrono::milliseconds::max();
Result<UniqueFd> lockRunDir(const std::string& run_dir,
                            std::chrono::milliseconds wait = std::chrono::seconds(3));

// Writes content to path atomically (temp file + fsync + rename).
Status writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace ambit::lab
