// TerminateTunnel: the connect handler keeps the tunnel in-process (the waypoint's mode) and
// talks over the HboneStream itself, several exchanges on one tunnel, clean half-close.
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

class HboneTerminateTest : public HboneFixture {
 protected:
  // A second server on 127.0.0.1:0 whose handler terminates every tunnel: it answers each
  // line it reads with "<authority> says <line>" and ends when the client half-closes.
  void startTerminatingServer() {
    auto handler = [this](const ConnectRequest& req) -> asio::awaitable<ConnectOutcome> {
      seen_identity_ = req.peer_identity;
      co_return TerminateTunnel{
          [authority = req.authority](HboneStream s) -> asio::awaitable<void> {
            std::vector<char> buf(1024);
            for (;;) {
              auto n = co_await s.read(asio::buffer(buf));
              if (!n || *n == 0) break;
              std::string reply = authority + " says " + std::string(buf.data(), *n);
              if (!co_await s.write(asio::buffer(reply))) co_return;
            }
            s.shutdownWrite();
          }};
    };
    terminating_ = std::make_unique<HboneServer>(ioc_.get_executor(), *server_tls_,
                                                 spiffeVerifier(kTrustDomain), handler);
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    server_address_ = acceptor.local_endpoint();
    Status st = terminating_->listen(std::move(acceptor));
    ASSERT_TRUE(st) << st.message();
  }

  void TearDown() override {
    if (terminating_) terminating_->close();
    ioc_.restart();
    ioc_.run_for(20ms);
    terminating_.reset();
  }

  std::unique_ptr<HboneServer> terminating_;
  std::string seen_identity_;
};

TEST_F(HboneTerminateTest, HandlerOwnsTheStreamForManyExchanges) {
  startTerminatingServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    TunnelRequest req;
    req.authority = "10.96.0.10:80";
    auto s = co_await pool->connect(destination(), req);
    CO_ASSERT_OK(s);
    std::vector<char> buf(1024);
    for (std::string line : {"one", "two"}) {
      CO_ASSERT_OK(co_await s->write(asio::buffer(line)));
      auto n = co_await s->read(asio::buffer(buf));
      CO_ASSERT_OK(n);
      EXPECT_EQ(std::string(buf.data(), *n), "10.96.0.10:80 says " + line);
    }
    s->shutdownWrite();
    EXPECT_EQ(co_await readAll(*s), "");
  });
  EXPECT_EQ(seen_identity_, kClientId);
  EXPECT_EQ(terminating_->stats().streams_accepted, 1u);
  EXPECT_EQ(terminating_->stats().streams_refused, 0u);
}

}  // namespace
}  // namespace ambit::hbone::testing
