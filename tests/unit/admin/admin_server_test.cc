#include "common/admin/admin_server.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "common/admin/metrics.h"

namespace ambit::admin {
namespace {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

struct Reply {
  unsigned status;
  std::string content_type;
  std::string body;
};

Reply get(uint16_t port, const std::string& target) {
  boost::asio::io_context io;
  tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "localhost");
  http::write(s, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return {res.result_int(), std::string(res[http::field::content_type]), res.body()};
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<AdminServer>(io_);
    registry_ = std::make_shared<prometheus::Registry>();
    auto& family =
        prometheus::BuildCounter().Name("ambit_test_total").Help("test").Register(*registry_);
    family.Add({{"kind", "a"}}).Increment(3);
    server_->route("/healthz/ready", readinessHandler([this] { return ready_.load(); }));
    server_->route("/metrics", metricsHandler(registry_));
    server_->route("/config_dump", jsonHandler([] { return std::string(R"({"ok":true})"); }));
    ASSERT_TRUE(server_->listen("127.0.0.1", 0));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    boost::asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
  }

  boost::asio::io_context io_;
  std::unique_ptr<AdminServer> server_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

TEST_F(AdminServerTest, ReadinessFollowsTheCallback) {
  EXPECT_EQ(get(server_->port(), "/healthz/ready").status, 503u);
  ready_ = true;
  EXPECT_EQ(get(server_->port(), "/healthz/ready").status, 200u);
}

TEST_F(AdminServerTest, MetricsInPrometheusTextFormat) {
  auto r = get(server_->port(), "/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, kPrometheusContentType);
  EXPECT_NE(r.body.find("# TYPE ambit_test_total counter"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("ambit_test_total{kind=\"a\"} 3"), std::string::npos) << r.body;
}

TEST_F(AdminServerTest, JsonDumpAndUnknownPath) {
  auto r = get(server_->port(), "/config_dump?include_eds");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, kJsonContentType);
  EXPECT_EQ(r.body, R"({"ok":true})");
  auto missing = get(server_->port(), "/nope");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_NE(missing.body.find("/metrics"), std::string::npos);
}

TEST_F(AdminServerTest, GarbageRequestGets400AndServerKeepsServing) {
  {
    boost::asio::io_context io;
    tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()});
    boost::asio::write(s, boost::asio::buffer(std::string("\x01\x02 GARBAGE\r\n\r\n")));
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    boost::beast::error_code ec;
    http::read(s, buf, res, ec);
    EXPECT_EQ(res.result_int(), 400u);
  }
  EXPECT_EQ(get(server_->port(), "/config_dump").status, 200u);
}

// Runs `io` until `done()`, for at most 10 s (a bound, not a timing assertion).
bool runUntil(boost::asio::io_context& io, const std::function<bool()>& done) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

TEST(AdminServerSuccession, TheOlderServerYieldsItsPortToANewerOne) {
  boost::asio::io_context io;
  AdminServer older(io), newer(io);
  older.route("/who", [](const Request&) { return Response{200, "text/plain", "older"}; });
  newer.route("/who", [](const Request&) { return Response{200, "text/plain", "newer"}; });
  const auto poll = std::chrono::milliseconds(5);
  ASSERT_TRUE(older.listenYieldingToSuccessor("127.0.0.1", 0, poll));
  const uint16_t port = older.port();
  AdminServer plain(io);
  EXPECT_FALSE(plain.listen("127.0.0.1", port)) << "only a sharing server may bind beside it";
  ASSERT_TRUE(newer.listenYieldingToSuccessor("127.0.0.1", port, poll));
  ASSERT_TRUE(runUntil(io, [&] { return older.yielded(); }));
  // The newer one saw the older listener at its bind (a predecessor) and keeps its port.
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(newer.yielded());
  std::thread serving([&] {
    io.restart();
    io.run_for(std::chrono::seconds(2));
  });
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(port, "/who").body, "newer") << i;
  io.stop();
  serving.join();
}

TEST(AdminServerSuccession, AServerAloneOnItsPortKeepsIt) {
  boost::asio::io_context io;
  AdminServer only(io);
  ASSERT_TRUE(only.listenYieldingToSuccessor("127.0.0.1", 0, std::chrono::milliseconds(5)));
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(only.yielded());
}

TEST(AdminServerListen, BadAddressIsAnError) {
  boost::asio::io_context io;
  AdminServer server(io);
  auto st = server.listen("not-an-ip", 0);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("not-an-ip"), std::string::npos);
}

}  // namespace
}  // namespace ambit::admin
