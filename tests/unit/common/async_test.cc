// spawn(): what a detached coroutine throws is logged with what it was, and the loop goes on.
// Every daemon source spawns through it (none calls asio::co_spawn itself).
// OwnedIoContext: an object kept alive only by its own loop's pending work is freed once that
// work is destroyed after run() returns.
// Signal: notify() wakes every waiter, and only the waiters present when it is called.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/async/owned_io_context.h"
#include "common/async/signal.h"
#include "common/async/spawn.h"
#include "tests/support/files.h"
#include "tests/support/log_capture.h"

namespace ambit {
namespace {

using test::LogCapture;

TEST(Spawn, LogsWhatAThrownExceptionSaysAndTheLoopGoesOn) {
  LogCapture log;
  asio::io_context io;
  bool later_ran = false;
  spawn(
      io,
      []() -> asio::awaitable<void> {
        throw std::runtime_error("disk on fire");
        co_return;
      },
      "test job");
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        later_ran = true;
        co_return;
      },
      "second job");
  EXPECT_NO_THROW(io.run());
  EXPECT_TRUE(later_ran);
  EXPECT_NE(log.text().find("test job failed: disk on fire"), std::string::npos) << log.text();
  EXPECT_EQ(log.text().find("second job"), std::string::npos) << log.text();
}

TEST(Spawn, LogsAnExceptionNotDerivedFromStdException) {
  LogCapture log;
  asio::io_context io;
  spawn(
      io,
      []() -> asio::awaitable<void> {
        throw 42;
        co_return;
      },
      "odd job");
  EXPECT_NO_THROW(io.run());
  EXPECT_NE(log.text().find("odd job failed: an exception not derived from std::exception"),
            std::string::npos)
      << log.text();
}

TEST(Spawn, OnExitRunsAfterTheFailureIsLoggedAndSaysItFailed) {
  LogCapture log;
  asio::io_context io;
  std::vector<std::string> exits;
  spawn(
      io,
      []() -> asio::awaitable<void> {
        throw std::runtime_error("watch broke");
        co_return;
      },
      "pod watch",
      [&](bool failed) {
        exits.push_back(failed ? "failed" : "returned");
        EXPECT_NE(log.text().find("pod watch failed: watch broke"), std::string::npos)
            << "on_exit ran before the failure was logged";
      });
  spawn(
      io, []() -> asio::awaitable<void> { co_return; }, "drain",
      [&](bool failed) { exits.push_back(failed ? "failed" : "returned"); });
  EXPECT_NO_THROW(io.run());
  EXPECT_EQ(exits, (std::vector<std::string>{"failed", "returned"}));
}

// Every detached coroutine of the daemons goes through spawn(): a bare asio::co_spawn (with
// asio::detached or a handler that ignores the exception) loses what the coroutine threw.
TEST(Spawn, NoDaemonCodeCallsCoSpawnDirectly) {
  namespace fs = std::filesystem;
  std::vector<std::string> offenders;
  for (const char* dir :
       {"agent", "cli", "common", "control", "sample-app", "waypoint", "ztunnel"}) {
    const fs::path root = fs::path(AMBIT_SOURCE_DIR) / dir;
    ASSERT_TRUE(fs::is_directory(root)) << root;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      const auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      if (entry.path() == fs::path(AMBIT_SOURCE_DIR) / "common/async/spawn.h") continue;
      const std::string text = test::readFile(entry.path());
      if (text.find("co_spawn(") != std::string::npos) {
        offenders.push_back(fs::relative(entry.path(), AMBIT_SOURCE_DIR).string());
      }
    }
  }
  EXPECT_TRUE(offenders.empty()) << "use ambit::spawn (common/async/spawn.h) in: "
                                 << ::testing::PrintToString(offenders);
}

TEST(Spawn, TheCallableKeepsItsCapturesForTheCoroutinesLife) {
  asio::io_context io;
  int seen = 0;
  {
    auto value = std::make_shared<int>(7);
    spawn(
        io,
        [value, &seen]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
          co_await t.async_wait(asio::use_awaitable);
          seen = *value;
        },
        "capture job");
  }
  io.run();
  EXPECT_EQ(seen, 7);
}

TEST(Signal, NotifyWakesEveryWaiter) {
  asio::io_context io;
  Signal signal(io.get_executor());
  bool ready = false;
  int woke = 0;
  for (int i = 0; i < 3; ++i) {
    spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (!ready) co_await signal.wait();
          ++woke;
        },
        "waiter");
  }
  io.poll();  // every waiter is now waiting
  EXPECT_EQ(woke, 0);
  ready = true;
  signal.notify();
  io.run();
  EXPECT_EQ(woke, 3);
}

TEST(Signal, ANotifyWithNobodyWaitingDoesNotWakeALaterWaiter) {
  asio::io_context io;
  Signal signal(io.get_executor());
  signal.notify();
  bool woke = false;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await signal.wait();
        woke = true;
      },
      "waiter");
  io.poll();
  EXPECT_FALSE(woke);
  signal.notify();
  io.poll();
  EXPECT_TRUE(woke);
}

// A daemon object that owns its event loop, with a coroutine that holds it (shared_from_this)
// and waits on a timer that never fires before the loop is stopped: Waypoint::Impl's shape.
struct LoopOwner : std::enable_shared_from_this<LoopOwner> {
  OwnedIoContext io;
  void start() {
    spawn(
        io,
        [self = shared_from_this()]() -> asio::awaitable<void> {
          asio::steady_timer forever(self->io, std::chrono::hours(1));
          co_await forever.async_wait(asio::use_awaitable);
        },
        "waits past the stop");
    asio::post(io, [this] { io.stop(); });
  }
};

TEST(OwnedIoContext, WorkThatOutlivedTheLoopNoLongerKeepsItsOwnerAlive) {
  std::weak_ptr<LoopOwner> watch;
  {
    auto owner = std::make_shared<LoopOwner>();
    watch = owner;
    owner->start();
    owner->io.run();
    EXPECT_EQ(watch.use_count(), 2) << "the pending coroutine holds the owner";
    owner->io.destroyPendingWork();
  }
  EXPECT_TRUE(watch.expired()) << "the owner and its loop leaked (a cycle through pending work)";
}

}  // namespace
}  // namespace ambit
