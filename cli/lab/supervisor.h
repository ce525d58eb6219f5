#pragma once
// The lab's supervisor (`ambitctl lab supervise`, started detached by `lab up`, stopped first
// by `lab down`): plays the kubelet for every process the lab started - node daemons, pod apps
// (the waypoint included). It watches each one with a pidfd (they are not its children), and
// when one exits restarts it with the launch spec recorded in the state file, after the delay
// RestartPolicy (restart_policy.h) picks; every exit and restart is logged to its log
// (<run_dir>/logs/supervisor.log) and counted in the state file (ProcessRecord::restarts).
//
// It changes the state file only while holding the run dir lock, after re-reading it, and only
// restarts a process whose record still names the dead one: a process `lab up` already
// restarted, or `lab pod delete` removed, is left alone.

#include <string>

#include "cli/lab/process.h"
#include "cli/lab/restart_policy.h"
#include "cli/lab/topology.h"
#include "common/status.h"

namespace ambit::lab {

inline constexpr const char* kSupervisorKind = "supervisor";

// Runs until the state file is gone or a signal ends it; returns only on an error that stops
// it from watching (the state file unreadable at start).
Status runSupervisor(const std::string& state_file, RestartPolicyOptions policy = {});

// How `lab up` starts it: this ambitctl binary, in the caller's netns, in cgroup_dir.
Result<LaunchSpec> supervisorLaunchSpec(const Topology& t, const std::string& cgroup_dir);

// "exit code 3", "signal 9 (Killed)", ... for a wait status.
std::string describeWaitStatus(int status);

}  // namespace ambit::lab
