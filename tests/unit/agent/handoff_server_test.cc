#include "agent/handoff_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <mutex>
#include <thread>

#include "common/handoff/handoff_socket.h"
#include "tests/support/temp_dir.h"

namespace ambit::agent {
namespace {

using namespace std::chrono_literals;

HandoffPod makePod(const std::string& uid) {
  HandoffPod p;
  p.info.set_uid(uid);
  p.info.set_name(uid);
  p.info.set_namespace_("default");
  p.netns = std::make_shared<const UniqueFd>(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  return p;
}

class HandoffServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start(dir_ + "/ztunnel.sock")); }
  void TearDown() override { server_.stop(); }

  // Receives one message and acks it (ok = true).
  v1::HandoffMessage receiveAndAck(int sock, bool expect_fd, bool ok = true) {
    auto got = handoff::receiveMessage(sock, 2s);
    EXPECT_TRUE(got) << (got ? "" : got.error().message);
    if (!got) return {};
    EXPECT_EQ(got->fd.valid(), expect_fd);
    v1::HandoffAck ack;
    ack.set_seq(got->message.seq());
    ack.set_ok(ok);
    EXPECT_TRUE(handoff::sendAck(sock, ack));
    return got->message;
  }

  test::TempDir tmp_{"ambit-hs"};
  const std::string dir_ = tmp_.path().string();
  HandoffServer server_{500ms};
};

TEST_F(HandoffServerTest, SnapshotOnConnectThenLiveChangesInOrder) {
  server_.upsert(makePod("default/a"));
  server_.upsert(makePod("default/b"));
  auto sock = handoff::connectSocket(dir_ + "/ztunnel.sock");
  ASSERT_TRUE(sock);
  auto m1 = receiveAndAck(sock->get(), true);
  auto m2 = receiveAndAck(sock->get(), true);
  EXPECT_EQ(m1.keep().pod().uid(), "default/a");
  EXPECT_EQ(m2.keep().pod().uid(), "default/b");
  auto done = receiveAndAck(sock->get(), false);
  EXPECT_TRUE(done.has_snapshot_done());

  server_.upsert(makePod("default/c"));
  server_.remove("default/a");
  auto add = receiveAndAck(sock->get(), true);
  EXPECT_EQ(add.add().pod().uid(), "default/c");
  auto del = receiveAndAck(sock->get(), false);
  EXPECT_EQ(del.del().uid(), "default/a");
  EXPECT_LT(m1.seq(), m2.seq());
  EXPECT_LT(add.seq(), del.seq());
  EXPECT_TRUE([&] {
    for (int i = 0; i < 100; ++i) {
      if (server_.stats().messages_acked == 5) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }());
}

TEST_F(HandoffServerTest, ReconnectingZtunnelGetsAFreshSnapshot) {
  server_.upsert(makePod("default/a"));
  {
    auto sock = handoff::connectSocket(dir_ + "/ztunnel.sock");
    ASSERT_TRUE(sock);
    receiveAndAck(sock->get(), true);
    receiveAndAck(sock->get(), false);
  }
  server_.upsert(makePod("default/b"));
  auto again = handoff::connectSocket(dir_ + "/ztunnel.sock");
  ASSERT_TRUE(again);
  std::set<std::string> uids;
  uids.insert(receiveAndAck(again->get(), true).keep().pod().uid());
  uids.insert(receiveAndAck(again->get(), true).keep().pod().uid());
  EXPECT_EQ(uids, (std::set<std::string>{"default/a", "default/b"}));
  EXPECT_TRUE(receiveAndAck(again->get(), false).has_snapshot_done());
}

TEST_F(HandoffServerTest, MissingAckDropsTheConnectionAndCountsAnError) {
  server_.upsert(makePod("default/a"));
  auto sock = handoff::connectSocket(dir_ + "/ztunnel.sock");
  ASSERT_TRUE(sock);
  auto got = handoff::receiveMessage(sock->get(), 2s);  // never acked
  ASSERT_TRUE(got);
  auto closed = handoff::receiveMessage(sock->get(), 3s);
  ASSERT_FALSE(closed) << "server kept a ztunnel that never acked";
  EXPECT_EQ(closed.error().code, EPIPE) << closed.error().message;
  EXPECT_GE(server_.stats().errors, 1u);
}

TEST_F(HandoffServerTest, NackIsCountedAndDeliveryContinues) {
  server_.upsert(makePod("default/a"));
  auto sock = handoff::connectSocket(dir_ + "/ztunnel.sock");
  ASSERT_TRUE(sock);
  receiveAndAck(sock->get(), true, /*ok=*/false);
  EXPECT_TRUE(receiveAndAck(sock->get(), false).has_snapshot_done());
  EXPECT_EQ(server_.stats().errors, 1u);
}

TEST(HandoffServerServed, ReportsEachPodTheZtunnelAckedOk) {
  test::TempDir tmp("ambit-hs");
  const std::string dir = tmp.path().string();
  std::mutex mu;
  std::vector<std::string> served;
  HandoffServer server(500ms);
  ASSERT_TRUE(server.start(dir + "/ztunnel.sock", [&](const std::string& uid) {
    std::lock_guard lock(mu);
    served.push_back(uid);
  }));
  server.upsert(makePod("default/a"));
  auto sock = handoff::connectSocket(dir + "/ztunnel.sock");
  ASSERT_TRUE(sock);
  auto ackNext = [&](bool ok) {
    auto got = handoff::receiveMessage(sock->get(), 2s);
    ASSERT_TRUE(got);
    v1::HandoffAck ack;
    ack.set_seq(got->message.seq());
    ack.set_ok(ok);
    ASSERT_TRUE(handoff::sendAck(sock->get(), ack));
  };
  ackNext(true);  // PodKeep default/a
  ackNext(true);  // SnapshotDone
  server.upsert(makePod("default/b"));
  ackNext(false);  // PodAdd default/b, refused: not served
  server.upsert(makePod("default/c"));
  ackNext(true);  // PodAdd default/c
  server.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(served, (std::vector<std::string>{"default/a", "default/c"}));
}

}  // namespace
}  // namespace ambit::agent
