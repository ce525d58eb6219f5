#pragma once
// The single-machine lab (DESIGN.md §7): `up` builds nodes and pods as network namespaces with
// a cgroup per pod, starts the sample app in every pod and the node daemons on every node, and
// writes the YAML describing it; `down` removes every trace. Used by ambitctl, tests and
// benchmarks. Not thread-safe; two concurrent `up`/`down` of the same lab are not supported.
//
// Every created object is recorded in <run_dir>/state.json before it is created (see
// state.h), so up converges and down cleans up from any interruption, including kill -9.
// Setting AMBIT_LAB_PAUSE_AFTER=<step> makes `up` stop after that step (for crash tests);
// steps: underlay, node:<node>, pod:<pod>, cgroups, config, daemons, app:<pod>, ready.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/lab/topology.h"
#include "common/status.h"

namespace ambit::lab {

struct PodStatus {
  PodSpec spec;
  std::string cgroup;  // absolute
  int pid = 0;
  bool alive = false;
  int restarts = 0;  // by the supervisor
};

struct DaemonStatus {
  std::string node, name, log_file;
  int pid = 0;
  bool alive = false;
  int restarts = 0;  // by the supervisor
};

struct LabStatus {
  std::string lab, phase, run_dir, state_file, config_dir, cgroup_root, underlay_netns;
  std::vector<NodeSpec> nodes;
  std::vector<PodStatus> pods;
  std::vector<DaemonStatus> daemons;
  DaemonStatus supervisor;  // node "lab", name "supervisor"; pid 0 while up has not started it
};

nlohmann::json toJson(const LabStatus& s);
std::string formatStatus(const LabStatus& s);  // human-readable tables

// Builds (or repairs) the lab. Fails if a lab with the same name but a different topology is
// up: run down first.
Status labUp(const LabOptions& options);

// Removes everything the state file records (processes, cgroups, netns, files, dirs), then the
// state file. Only options.name / options.run_dir are used. No lab: nothing to do.
Status labDown(const LabOptions& options);

// Kubernetes mode only: starts one more pod (netns, Pod object, kubelet-layout cgroup, app,
// status) / removes a pod added that way, like a kubelet after `kubectl delete pod`.
Status labPodAdd(const LabOptions& options, const ExtraPod& pod);
Status labPodDelete(const LabOptions& options, const std::string& name);

// The topology of the lab that is up, rebuilt from its state file.
Result<Topology> openLab(const LabOptions& options);

Result<LabStatus> labStatus(const LabOptions& options);

// Runs argv inside the pod's netns and cgroup with the caller's stdio; returns its exit code.
Result<int> labExec(const LabOptions& options, const std::string& pod,
                    const std::vector<std::string>& argv);

// Absolute cgroup paths: <cgroup2 mount>/<name>-lab[/<node>[/<pod>]].
std::string labCgroupRoot(const std::string& cgroup_mount, const Topology& t);
std::string nodeCgroup(const std::string& cgroup_mount, const Topology& t, const NodeSpec& n);
std::string podCgroup(const std::string& cgroup_mount, const Topology& t, const PodSpec& p);
// Where node daemons run: <root>/system/<node>-<daemon> (outside the node's pod subtree, so
// capture programs attached to the node cgroup never see the daemons' own sockets).
std::string daemonCgroup(const std::string& cgroup_mount, const Topology& t, const NodeSpec& n,
                         const std::string& daemon);

// <run_dir>/state.json for these options.
std::string stateFilePath(const LabOptions& options);

}  // namespace ambit::lab
