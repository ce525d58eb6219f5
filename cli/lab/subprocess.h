#pragma once
// Runs short helper commands (iproute2's `ip`) and captures their output.
//
// Why a subprocess and not netlink: our dependency set (DESIGN.md §8) has no netlink library,
// and the lab's few dozen link/address/route operations are not performance sensitive; `ip`
// gives exact, well-known semantics and error messages users can reproduce by hand.

#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::lab {

struct CommandResult {
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null. Fails only when the command
// cannot be started; a non-zero exit is reported in the result.
Result<CommandResult> runCommand(const std::vector<std::string>& argv);

// Like runCommand but a non-zero exit is an error naming the command, exit code and stderr.
Result<std::string> runChecked(const std::vector<std::string>& argv);

// `ip [-n netns] args...`, required to succeed. netns empty: the caller's namespace.
Status ip(const std::string& netns, const std::vector<std::string>& args);

// True when `ip -n netns link show dev` succeeds.
bool linkExists(const std::string& netns, const std::string& dev);

}  // namespace ambit::lab
