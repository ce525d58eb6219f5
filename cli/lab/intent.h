#pragma once
// The steps of `lab up` that create recorded objects, shared by the local and the Kubernetes
// mode (kube_lab.cc): each records its object in the intent log (state.h) before creating it,
// and does nothing when the object is already there, so `up` converges from any half-built
// state and `down` removes exactly what was made.

#include <string>
#include <vector>

#include "cli/lab/process.h"
#include "cli/lab/state.h"
#include "common/status.h"

namespace ambit::lab {

// The intent log: records an object in the state file (saved) before the caller creates it.
class Intent {
 public:
  Intent(LabState& state, std::string path) : state_(state), path_(std::move(path)) {}
  Status add(std::vector<std::string> LabState::*list, const std::string& value) {
    if (!LabState::addUnique(state_.*list, value)) return Status::ok();
    return save();
  }
  Status save() { return saveState(path_, state_); }
  LabState& state() { return state_; }

 private:
  LabState& state_;
  std::string path_;
};

Status ensureDir(Intent& intent, const std::string& dir);
Status ensureCgroup(Intent& intent, const std::string& dir);
// Writes a file the lab owns (recorded, then written atomically).
Status writeLabFile(Intent& intent, const std::string& path, const std::string& content);
// Starts the process unless the recorded one (kind, name) is still alive.
Status ensureProcess(Intent& intent, const std::string& kind, const std::string& name,
                     const LaunchSpec& spec);

// The topology of the lab `state` describes (pods added later and their uids included).
Result<Topology> topologyFromState(const LabOptions& options, const LabState& state);

// One pod's app: started in its cgroup and netns (unless alive), then waited for until it
// accepts on its ready port.
Status startPodApp(const Topology& t, const std::string& cgroup_mount, Intent& intent,
                   const PodSpec& pod);
Status waitPodAccepts(const Topology& t, const PodSpec& pod);

// Removes a cgroup directory, ending whatever still runs in it (cgroup.kill); absent is fine.
Status removeCgroup(const std::string& dir);

}  // namespace ambit::lab
