// runOnDataThread: a call the data thread did not take in time is abandoned and its work never
// runs later (it may reference the caller's finished stack frame); a call the data thread has
// taken is waited for to the end, however long it runs.
#include "ztunnel/data_thread.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <future>
#include <thread>

namespace ambit::ztunnel {
namespace {

using namespace std::chrono_literals;

TEST(RunOnDataThread, ReturnsWhatTheWorkReturned) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread data([&] { io.run(); });
  auto r = runOnDataThread(io, []() -> Result<int> { return 7; });
  guard.reset();
  data.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 7);
}

TEST(RunOnDataThread, AnAbandonedCallNeverRunsItsWorkLater) {
  boost::asio::io_context io;  // not running yet: the data thread is stuck
  auto ran = std::make_shared<bool>(false);
  {
    int on_callers_stack = 0;
    auto r = runOnDataThread(
        io,
        [&on_callers_stack, ran]() -> Status {
          *ran = true;
          ++on_callers_stack;
          return Status::ok();
        },
        20ms);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("did not take the call within 20ms"), std::string::npos)
        << r.error().message;
  }
  io.run();  // the data thread comes back: the queued task must not touch the dead frame
  EXPECT_FALSE(*ran) << "the abandoned work ran after its caller had returned";
}

TEST(RunOnDataThread, WorkThatStartedInTimeIsWaitedForToItsEnd) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread data([&] { io.run(); });
  std::promise<void> started;
  std::promise<void> release;
  auto release_later = std::async(std::launch::async, [&] {
    started.get_future().wait();
    std::this_thread::sleep_for(1500ms);  // well past the 1s start timeout
    release.set_value();
  });
  bool finished = false;
  auto r = runOnDataThread(
      io,
      [&]() -> Result<int> {
        started.set_value();
        release.get_future().wait();
        finished = true;
        return 42;
      },
      1s);
  EXPECT_TRUE(finished) << "the caller returned while its work was still running";
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 42);
  release_later.wait();
  guard.reset();
  data.join();
}

}  // namespace
}  // namespace ambit::ztunnel
