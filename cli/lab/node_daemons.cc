// The mesh daemons `lab up` starts in every node netns (see NodeDaemonSpec in topology.h for
// the placeholders). Each runs in <cgroup2>/<lab>-lab/system/<node>-<name>, logs to
// <run_dir>/logs/<node>-<name>.log unless log_file says otherwise, and is stopped by
// `lab down` with SIGTERM, then SIGKILL after 5 s.
//
// Example, once the binaries exist:
//   {.name = "agent", .binary = "{bin_dir}/ambit-agent",
//    .args = {"--node", "{node}", "--config-dir", "{config_dir}", "--cgroup", "{cgroup}",
//             "--state-dir", "{state_dir}"}},
#include "cli/lab/topology.h"

namespace ambit::lab {

std::vector<NodeDaemonSpec> defaultNodeDaemons() { return {}; }

}  // namespace ambit::lab
