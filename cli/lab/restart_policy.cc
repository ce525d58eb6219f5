#include "cli/lab/restart_policy.h"

#include <algorithm>

namespace ambit::lab {

std::chrono::milliseconds RestartPolicy::onExit(Clock::time_point started,
                                                Clock::time_point exited) {
  if (exited - started >= options_.reset_after) consecutive_ = 0;
  std::chrono::milliseconds delay{0};
  if (consecutive_ > 0) {
    delay = options_.initial_backoff;
    for (int i = 1; i < consecutive_ && delay < options_.max_backoff; ++i) delay *= 2;
    delay = std::min(delay, options_.max_backoff);
  }
  ++consecutive_;
  return delay;
}

}  // namespace ambit::lab
