#pragma once
// When the lab supervisor restarts a process that exited: like the kubelet's CrashLoopBackOff,
// the first restart is immediate, each further one waits twice as long as the one before
// (initial_backoff, 2x, 4x ... up to max_backoff), and a process that stayed up for reset_after
// starts over with an immediate restart. Pure logic: the caller passes the times, so tests
// need no clock and no processes.

#include <chrono>

namespace ambit::lab {

struct RestartPolicyOptions {
  std::chrono::milliseconds initial_backoff{500};  // delay of the second restart in a row
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds reset_after{10'000};  // uptime that forgives earlier crashes
};

// One per supervised process. Not thread-safe.
class RestartPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RestartPolicy(RestartPolicyOptions options = {}) : options_(options) {}

  // The process that started at `started` exited at `exited`: how long to wait before
  // starting it again.
  std::chrono::milliseconds onExit(Clock::time_point started, Clock::time_point exited);

  // Restarts in a row without a long enough uptime in between (0 after a reset).
  int crashLoopLength() const { return consecutive_; }

 private:
  RestartPolicyOptions options_;
  int consecutive_ = 0;
};

}  // namespace ambit::lab
