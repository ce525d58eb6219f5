#pragma once
// A Kubernetes pod's network namespace, found from its processes: every container of a pod
// (and its sandbox "pause" process) runs in the pod's cgroup or a child of it, and all share
// the pod's netns. The agent takes /proc/<pid>/ns/net of one of them and CHECKS it before
// using it: it must hold every pod IP (an IP mismatch means a stale PID, a hostNetwork pod or a
// wrong cgroup: refused with a clear error), and it must not be the node's own namespace
// (a hostNetwork pod's netns is the host's, which also holds the node IP: never enrolled).
//
// Thread: any; find() enters the pod's netns on the calling thread only for the address dump
// (NetnsGuard returns it). Needs the host's PID namespace: pids read from cgroup.procs are
// those of the reader's namespace (0 for processes outside it).

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/bpf/addr.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::agent {

struct FoundNetns {
  UniqueFd netns;       // open handle of the pod's netns
  uint64_t cookie = 0;  // its netns cookie: the capture key
  pid_t pid = 0;        // the process it was taken from
  // When the pod's oldest process started, as CLOCK_BOOTTIME (time since boot): the start of
  // the pod's "first process → enrolled" latency.
  std::chrono::nanoseconds first_process_start{0};
};

class PodNetnsFinder {
 public:
  virtual ~PodNetnsFinder() = default;
  // nullopt: no process in the pod's cgroup yet (retry soon). Error: the cgroup cannot be read,
  // or the namespace found fails the checks above (message says which and why).
  virtual Result<std::optional<FoundNetns>> find(const std::string& pod_cgroup_dir,
                                                 const std::vector<bpf::IpAddr>& pod_ips) = 0;
};

struct ProcNetnsFinderOptions {
  std::string proc_root = "/proc";
  // The node's netns (the agent runs with hostNetwork): a pod found in it is refused.
  std::string host_netns = "/proc/self/ns/net";
  int max_depth = 4;       // cgroup levels searched below the pod cgroup
  size_t max_pids = 4096;  // pids considered per pod (bounded work for a fork bomb)
};

class ProcNetnsFinder final : public PodNetnsFinder {
 public:
  explicit ProcNetnsFinder(ProcNetnsFinderOptions options = {}) : options_(std::move(options)) {}
  Result<std::optional<FoundNetns>> find(const std::string& pod_cgroup_dir,
                                         const std::vector<bpf::IpAddr>& pod_ips) override;

 private:
  ProcNetnsFinderOptions options_;
};

// The IP addresses configured on any interface of the namespace (an rtnetlink dump inside it).
Result<std::vector<bpf::IpAddr>> netnsAddresses(int netns_fd);

}  // namespace ambit::agent
