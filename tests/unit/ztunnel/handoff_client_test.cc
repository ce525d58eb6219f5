// HandoffClient and the data thread: the hand-off thread applies a pod by waiting for the data
// thread (runOnDataThread), so the data thread must be able to stop the hand-off without waiting
// for it. The ztunnel's drain does exactly that; joining there used to stall the data loop for
// the whole data-thread call timeout while a new agent handed over its pods (a DaemonSet roll).
#include "ztunnel/handoff_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "common/handoff/handoff_socket.h"
#include "tests/support/temp_dir.h"
#include "ztunnel/data_thread.h"

namespace ambit::ztunnel {
namespace {

using namespace std::chrono_literals;

// A PodSink like PodRegistry: each add waits for the data thread to open the pod.
class DataThreadSink : public PodSink {
 public:
  explicit DataThreadSink(boost::asio::io_context& io) : io_(io) {}
  Status addPod(const v1::PodInfo& pod, UniqueFd) override {
    entered_.set_value();
    return runOnDataThread(
        io_,
        [&]() -> Status {
          opened_ = pod.uid();
          return Status::ok();
        },
        std::chrono::minutes(5));
  }
  Status deletePod(const std::string&) override { return Status::ok(); }
  void snapshotStart() override {}
  void snapshotDone() override {}

  std::future<void> entered() { return entered_.get_future(); }
  std::string opened_;  // written on the data thread

 private:
  boost::asio::io_context& io_;
  std::promise<void> entered_;
};

TEST(HandoffClient, TheDataThreadStopsItWhileAPodAddWaitsForTheDataThread) {
  test::TempDir tmp{"ambit-hc"};
  const std::string path = tmp.path().string() + "/ztunnel.sock";
  auto listener = handoff::listenSocket(path);
  ASSERT_TRUE(listener) << listener.error().message;

  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread data([&] { io.run(); });
  DataThreadSink sink(io);
  auto entered = sink.entered();
  HandoffClient client(path, sink);

  // The data thread is busy with a task that, once the hand-off thread waits for it, asks the
  // hand-off to stop: as the ztunnel's drain does when SIGTERM meets a pod hand-over.
  std::promise<void> stop_returned;
  boost::asio::post(io, [&] {
    entered.wait();
    client.requestStop();
    stop_returned.set_value();
  });
  client.start();

  int agent = ::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(agent, 0);
  UniqueFd agent_fd(agent);
  v1::HandoffMessage add;
  add.set_seq(1);
  add.mutable_add()->mutable_pod()->set_uid("demo/a");
  ASSERT_TRUE(handoff::sendMessage(agent, add));

  // A deadlock guard, not a timing check: the request must return while the pod add waits.
  auto returned = stop_returned.get_future();
  bool stopped_in_time = returned.wait_for(60s) == std::future_status::ready;
  EXPECT_TRUE(stopped_in_time) << "requestStop() on the data thread waited for the hand-off";
  if (stopped_in_time) {
    // The data thread is free again: the queued add runs, is acked, and the thread ends.
    auto ack = handoff::receiveAck(agent, 30s);
    ASSERT_TRUE(ack) << ack.error().message;
    EXPECT_TRUE(ack->ok()) << ack->error();
    client.stop();
    EXPECT_EQ(sink.opened_, "demo/a");
  }
  guard.reset();
  if (!stopped_in_time) io.stop();
  data.join();
}

TEST(RunOnDataThread, ACallQueuedOnADataLoopThatStopsIsAbandonedAtOnce) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread data([&] { io.run(); });
  std::promise<void> queued;
  // The data loop's last task: it stops the loop once the call below is queued behind it.
  boost::asio::post(io, [&] {
    queued.get_future().wait();
    io.stop();
  });
  auto call = std::async(std::launch::async, [&] {
    return runOnDataThread(
        io, []() -> Status { return Status::ok(); }, std::chrono::minutes(2));
  });
  std::this_thread::sleep_for(50ms);  // lets the call be queued; either order is correct
  queued.set_value();
  // A deadlock guard: without the check the call waits for its full 2-minute timeout.
  ASSERT_EQ(call.wait_for(60s), std::future_status::ready)
      << "a call on a stopped data loop waited for its timeout";
  auto r = call.get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("has stopped"), std::string::npos) << r.error().message;
  data.join();
}

}  // namespace
}  // namespace ambit::ztunnel
