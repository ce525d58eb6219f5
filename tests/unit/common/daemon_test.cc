// Daemon: the first stop signal drains the service and serve() returns; a second signal, a
// drain past its deadline, or a signal before the service started end the process at once.
#include "common/daemon.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <future>
#include <thread>

namespace ambit {
namespace {

using namespace std::chrono_literals;

// In a death test's child: log to stderr, where EXPECT_EXIT looks.
void logToStderr() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "daemon-test", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::GTEST_FLAG(death_test_style) = "threadsafe"; }
};

TEST_F(DaemonTest, FirstSignalDrainsAndServeReturns) {
  Daemon daemon("test", 1s);
  std::promise<void> drained;
  std::future<void> done = drained.get_future();
  bool drain_called = false;
  int status = daemon.serve(
      [&] {
        std::raise(SIGTERM);
        ASSERT_EQ(done.wait_for(30s), std::future_status::ready) << "drain() was not called";
      },
      [&] {
        drain_called = true;
        drained.set_value();
      });
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(drain_called);
}

TEST_F(DaemonTest, SignalWhileStartingExitsAtOnce) {
  EXPECT_EXIT(
      {
        logToStderr();
        Daemon daemon("test", 1s);
        std::raise(SIGTERM);
        std::this_thread::sleep_for(30s);  // never reached the end: the signal ends the process
      },
      ::testing::ExitedWithCode(0), "while starting: exiting");
}

TEST_F(DaemonTest, SecondSignalWhileDrainingExitsAtOnce) {
  EXPECT_EXIT(
      {
        logToStderr();
        Daemon daemon("test", 10s);
        std::promise<void> drained;
        std::future<void> done = drained.get_future();
        (void)daemon.serve(
            [&] {
              std::raise(SIGTERM);
              done.wait_for(30s);
              std::raise(SIGINT);
              std::this_thread::sleep_for(30s);  // a service that does not stop
            },
            [&] { drained.set_value(); });
      },
      ::testing::ExitedWithCode(1), "while draining: exiting now");
}

TEST_F(DaemonTest, DrainPastItsDeadlineAndGraceExits) {
  EXPECT_EXIT(
      {
        logToStderr();
        Daemon daemon("test", 10ms);
        (void)daemon.serve(
            [&] {
              std::raise(SIGTERM);
              std::this_thread::sleep_for(Daemon::kDrainGrace + 30s);  // never stops
            },
            [] {});
      },
      ::testing::ExitedWithCode(1), "after the drain began: exiting");
}

TEST_F(DaemonTest, ServeDoesNotReturnWhileDrainIsStillRunning) {
  // The service stops by itself (e.g. /quitquitquit) just as a signal's drain() begins: the
  // main destroys the service when serve() returns, so drain() must have finished by then.
  Daemon daemon("test", 1s);
  std::promise<void> drain_began;
  std::future<void> began = drain_began.get_future();
  std::atomic<bool> drain_finished = false;
  (void)daemon.serve(
      [&] {
        std::raise(SIGTERM);
        ASSERT_EQ(began.wait_for(30s), std::future_status::ready) << "drain() was not called";
      },
      [&] {
        drain_began.set_value();
        std::this_thread::sleep_for(300ms);  // a drain still using the service
        drain_finished = true;
      });
  EXPECT_TRUE(drain_finished) << "serve() returned while drain() was still running";
}

}  // namespace
}  // namespace ambit
