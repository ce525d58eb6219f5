#pragma once
// cgroup v2 discovery and management. Never assume /sys/fs/cgroup: hybrid hosts mount v2 at
// /sys/fs/cgroup/unified, others elsewhere.

#include <string>

#include "common/status.h"

namespace ambit {

// The mount point of the cgroup2 hierarchy, read from /proc/self/mountinfo.
Result<std::string> findCgroup2Mount();

// Like findCgroup2Mount, but mounts cgroup2 at `fallback` when none is mounted.
Result<std::string> ensureCgroup2Mount(const std::string& fallback = "/run/ambit/cgroup2");

}  // namespace ambit
