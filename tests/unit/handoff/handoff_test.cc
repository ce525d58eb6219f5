#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/handoff/handoff_socket.h"
#include "tests/support/temp_dir.h"

namespace ambit::handoff {
namespace {

class HandoffTest : public ::testing::Test {
 protected:
  test::TempDir dir_{"ambit-handoff"};
  const std::string path_ = dir_.file("sock");
};

v1::HandoffMessage podAdd(uint64_t seq, const std::string& uid) {
  v1::HandoffMessage m;
  m.set_seq(seq);
  auto* pod = m.mutable_add()->mutable_pod();
  pod->set_uid(uid);
  pod->set_name("my-app-v1");
  pod->set_namespace_("default");
  pod->set_service_account("my-app");
  pod->add_addresses("10.244.1.2");
  return m;
}

TEST_F(HandoffTest, MessageWithNetnsFdAndAckRoundTrip) {
  auto listener = listenSocket(path_);
  ASSERT_TRUE(listener) << listener.error().message;
  auto client = connectSocket(path_);
  ASSERT_TRUE(client) << client.error().message;
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server);

  UniqueFd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(netns);
  ASSERT_TRUE(sendMessage(server.get(), podAdd(7, "default/my-app-v1"), netns.get()));

  auto got = receiveMessage(client->get(), std::chrono::seconds(2));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->message.seq(), 7u);
  EXPECT_EQ(got->message.add().pod().uid(), "default/my-app-v1");
  ASSERT_TRUE(got->fd.valid());
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(netns.get(), &a), 0);
  ASSERT_EQ(::fstat(got->fd.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "received fd refers to a different namespace";

  v1::HandoffAck ack;
  ack.set_seq(7);
  ack.set_ok(true);
  ASSERT_TRUE(sendAck(client->get(), ack));
  auto got_ack = receiveAck(server.get(), std::chrono::seconds(2));
  ASSERT_TRUE(got_ack) << got_ack.error().message;
  EXPECT_EQ(got_ack->seq(), 7u);
  EXPECT_TRUE(got_ack->ok());
}

TEST_F(HandoffTest, TimeoutAndPeerCloseAreErrors) {
  auto listener = listenSocket(path_);
  ASSERT_TRUE(listener);
  auto client = connectSocket(path_);
  ASSERT_TRUE(client);
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  auto timed_out = receiveMessage(client->get(), std::chrono::milliseconds(50));
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code, ETIMEDOUT);
  server.reset();
  auto closed = receiveMessage(client->get(), std::chrono::seconds(1));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, EPIPE);
}

TEST_F(HandoffTest, GarbagePacketIsRejectedWithMessage) {
  auto listener = listenSocket(path_);
  ASSERT_TRUE(listener);
  auto client = connectSocket(path_);
  ASSERT_TRUE(client);
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  const char garbage[] = "\xff\xff\xff\xff\xff";
  ASSERT_EQ(::send(server.get(), garbage, 5, 0), 5);
  auto got = receiveMessage(client->get(), std::chrono::seconds(1));
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("not a HandoffMessage"), std::string::npos)
      << got.error().message;
}

TEST_F(HandoffTest, BadPathsNameThePath) {
  auto too_long = listenSocket("/tmp/" + std::string(200, 'x'));
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("longer than"), std::string::npos);
  auto missing = connectSocket(dir_.file("nobody-listens"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nobody-listens"), std::string::npos);
}

}  // namespace
}  // namespace ambit::handoff
