#include "cli/admin_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/unique_fd.h"

namespace ambit::cli {
namespace {

TEST(ParseAdminAddressTest, Ipv4AndBracketedIpv6) {
  auto a = parseAdminAddress("127.0.0.1:15000");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 15000);
  auto b = parseAdminAddress("[::1]:15020");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->describe(), "[::1]:15020");
}

TEST(ParseAdminAddressTest, BadAddressesSayWhatIsWrong) {
  auto msg = [](const std::string& text) {
    auto r = parseAdminAddress(text);
    return r ? std::string() : r.error().message;
  };
  EXPECT_NE(msg("localhost").find("expected host:port"), std::string::npos);
  EXPECT_NE(msg("ztunnel:15000").find("'ztunnel' is not an IP address"), std::string::npos);
  EXPECT_NE(msg("127.0.0.1:0").find("port '0'"), std::string::npos);
  EXPECT_NE(msg("127.0.0.1:99999").find("port '99999'"), std::string::npos);
  EXPECT_NE(msg("127.0.0.1:15x").find("port '15x'"), std::string::npos);
  EXPECT_NE(msg("::1:15000").find("[addr]:port"), std::string::npos);
  EXPECT_NE(msg("[::1]15000").find("[ipv6]:port"), std::string::npos);
}

class AdminClientTest : public testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<admin::AdminServer>(io_);
    server_->route("/config_dump", admin::jsonHandler([] { return std::string(R"({"n":1})"); }));
    ASSERT_TRUE(server_->listen("127.0.0.1", 0));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    boost::asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
  }
  AdminEndpoint endpoint() const { return {.host = "127.0.0.1", .port = server_->port()}; }

  boost::asio::io_context io_;
  std::unique_ptr<admin::AdminServer> server_;
  std::thread thread_;
};

TEST_F(AdminClientTest, GetsTheBody) {
  auto body = adminGetOk(endpoint(), "/config_dump");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(nlohmann::json::parse(*body)["n"], 1);
}

TEST_F(AdminClientTest, AnHttpErrorIsAReplyButNotOk) {
  auto reply = adminGet(endpoint(), "/nope");
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->status, 404u);
  auto ok = adminGetOk(endpoint(), "/nope");
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("HTTP 404"), std::string::npos);
}

// A bound socket that does not listen: connecting to its port is refused.
TEST(AdminClientErrorsTest, RefusedConnectionNamesTheEndpoint) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  AdminEndpoint e{.host = "127.0.0.1", .port = ntohs(a.sin_port)};
  auto r = adminGet(e, "/config_dump");
  ASSERT_FALSE(r);
  EXPECT_NE(
      r.error().message.find("GET http://127.0.0.1:" + std::to_string(e.port) + "/config_dump"),
      std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
}

// Listening but never answering (nobody accepts): the deadline ends the wait.
TEST(AdminClientErrorsTest, SilentEndpointTimesOut) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd.get(), 4), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  AdminEndpoint e{.host = "127.0.0.1", .port = ntohs(a.sin_port)};
  auto r = adminGet(e, "/metrics", std::chrono::milliseconds(200));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
}

TEST(AdminClientErrorsTest, MissingNetnsIsAnErrorNotACrash) {
  AdminEndpoint e{.host = "127.0.0.1", .port = 15000, .netns = "ambit-no-such-netns"};
  auto r = adminGet(e, "/config_dump");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ambit-no-such-netns"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace ambit::cli
