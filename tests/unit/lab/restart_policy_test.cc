#include "cli/lab/restart_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace ambit::lab {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Time = RestartPolicy::Clock::time_point;

// A process that crashes `uptime` after every start; returns the delays the policy chose.
std::vector<long> crashLoop(RestartPolicy& policy, Time& now, milliseconds uptime, int crashes) {
  std::vector<long> delays;
  for (int i = 0; i < crashes; ++i) {
    Time started = now;
    now += uptime;
    milliseconds delay = policy.onExit(started, now);
    delays.push_back(delay.count());
    now += delay;
  }
  return delays;
}

TEST(RestartPolicyTest, FirstRestartIsImmediateThenBackoffDoublesUpToTheCap) {
  RestartPolicy policy;
  Time now{};
  EXPECT_EQ(crashLoop(policy, now, milliseconds(100), 8),
            (std::vector<long>{0, 500, 1000, 2000, 4000, 8000, 10000, 10000}));
  EXPECT_EQ(policy.crashLoopLength(), 8);
}

TEST(RestartPolicyTest, LongUptimeResetsTheBackoff) {
  RestartPolicy policy;
  Time now{};
  ASSERT_EQ(crashLoop(policy, now, milliseconds(100), 4), (std::vector<long>{0, 500, 1000, 2000}));
  // Up for exactly reset_after: forgiven, the next restart is immediate again.
  EXPECT_EQ(crashLoop(policy, now, seconds(10), 1), (std::vector<long>{0}));
  EXPECT_EQ(crashLoop(policy, now, milliseconds(100), 2), (std::vector<long>{500, 1000}));
}

TEST(RestartPolicyTest, UptimeJustBelowTheResetKeepsBackingOff) {
  RestartPolicy policy;
  Time now{};
  EXPECT_EQ(crashLoop(policy, now, milliseconds(9999), 3), (std::vector<long>{0, 500, 1000}));
}

TEST(RestartPolicyTest, OptionsSetTheSteps) {
  RestartPolicy policy(RestartPolicyOptions{.initial_backoff = milliseconds(100),
                                            .max_backoff = milliseconds(350),
                                            .reset_after = seconds(1)});
  Time now{};
  EXPECT_EQ(crashLoop(policy, now, milliseconds(10), 5),
            (std::vector<long>{0, 100, 200, 350, 350}));
  EXPECT_EQ(crashLoop(policy, now, seconds(1), 1), (std::vector<long>{0}));
}

TEST(RestartPolicyTest, VeryLongCrashLoopsStayAtTheCap) {
  RestartPolicy policy;
  Time now{};
  auto delays = crashLoop(policy, now, milliseconds(1), 200);
  EXPECT_EQ(delays.back(), 10000);
}

}  // namespace
}  // namespace ambit::lab
