// Bad peers and lifecycle: identity failures both ways, bad requests, junk on the wire,
// half-open handshakes, oversized headers, idle timeout and graceful drain. After each bad
// client, a good one must still be served.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

using boost::system::error_code;
constexpr auto kUse = asio::use_awaitable;

class HboneRobustnessTest : public HboneFixture {
 protected:
  // Reads until the peer closes; returns how long that took, or -1ms if it did not happen
  // within `limit`.
  template <typename Stream>
  asio::awaitable<std::chrono::milliseconds> timeToClose(Stream& s, tcp::socket& raw,
                                                         std::chrono::milliseconds limit) {
    auto start = std::chrono::steady_clock::now();
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(ioc_, limit);
    timer.async_wait([&raw, timed_out](error_code ec) {
      if (ec) return;
      *timed_out = true;
      raw.close(ec);
    });
    std::vector<char> buf(4096);
    error_code ec;
    while (!ec) co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
    timer.cancel();
    if (*timed_out) co_return std::chrono::milliseconds(-1);
    co_return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  }

  // A full good tunnel round trip with a fresh pool.
  asio::awaitable<bool> goodClientWorks() {
    auto pool = makePool();
    auto s = co_await pool->connect(destination(), request(echo_port_));
    if (!s) {
      ADD_FAILURE() << s.error().message;
      co_return false;
    }
    Status st = co_await s->write(asio::buffer(std::string("still alive")));
    s->shutdownWrite();
    co_return st&& co_await readAll(*s) == "still alive";
  }

  asio::awaitable<Result<HboneStream>> connectWith(Destination d, TunnelRequest r) {
    auto pool = makePool();
    co_return co_await pool->connect(d, r);
  }
};

TEST_F(HboneRobustnessTest, ClientRejectsUnexpectedServerIdentity) {
  startServer();
  run([&]() -> asio::awaitable<void> {
    Destination d = destination();
    d.expected_server_ids = {"spiffe://cluster.local/ns/server/sa/someone-else"};
    auto s = co_await connectWith(d, request(echo_port_));
    CO_ASSERT(!s);
    EXPECT_NE(s.error().message.find("not one expected"), std::string::npos) << s.error().message;
  });
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HboneRobustnessTest, ClientRejectsServerFromUntrustedCa) {
  TestPki rogue("rogue CA");
  CertKey rogue_server = rogue.issue(kServerId);
  server_tls_ = makeContext(&rogue_server, pki_.caPem());
  startServer();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await connectWith(destination(), request(echo_port_));
    CO_ASSERT(!s);
    EXPECT_NE(s.error().message.find("TLS handshake"), std::string::npos) << s.error().message;
  });
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HboneRobustnessTest, ServerRejectsClientWithoutCertificate) {
  startServer();
  run([&]() -> asio::awaitable<void> {
    Destination d = destination();
    d.tls = makeContext(nullptr, pki_.caPem());
    auto s = co_await connectWith(d, request(echo_port_));
    CO_ASSERT(!s);
    co_await sleep(50ms);
    EXPECT_GE(server_->stats().handshake_failures, 1u);
    EXPECT_TRUE(co_await goodClientWorks());
  });
  EXPECT_EQ(requests_.size(), 1u);  // only the good client's
}

TEST_F(HboneRobustnessTest, ServerRejectsClientFromOtherTrustDomain) {
  startServer();
  CertKey foreign = pki_.issue("spiffe://evil.example/ns/a/sa/b");
  run([&]() -> asio::awaitable<void> {
    Destination d = destination();
    d.tls = makeContext(&foreign, pki_.caPem());
    auto s = co_await connectWith(d, request(echo_port_));
    CO_ASSERT(!s);
    co_await sleep(50ms);
    EXPECT_GE(server_->stats().handshake_failures, 1u);
    EXPECT_TRUE(co_await goodClientWorks());
  });
}

TEST_F(HboneRobustnessTest, BadAuthorityIs400) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    for (const char* authority : {"not-an-ip:80", "127.0.0.1", "127.0.0.1:0", "::1:80"}) {
      TunnelRequest r = request(echo_port_);
      r.authority = authority;
      auto s = co_await pool->connect(destination(), r);
      CO_ASSERT(!s);
      EXPECT_NE(s.error().message.find("HTTP 400"), std::string::npos)
          << authority << ": " << s.error().message;
    }
    EXPECT_EQ(pool->stats().connections_opened, 1u);  // stream errors, not connection errors
  });
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HboneRobustnessTest, OversizedHeaderBlockClosesOnlyThatConnection) {
  startServer();
  PoolOptions opts;
  opts.http2.max_header_list_size = 256u << 10;  // let our client send what the server refuses
  auto pool = makePool(opts);
  run([&]() -> asio::awaitable<void> {
    TunnelRequest r = request(echo_port_);
    r.extra.push_back({"x-padding", std::string(20000, 'p')});
    auto s = co_await pool->connect(destination(), r);
    CO_ASSERT(!s);
    co_await sleep(50ms);
    EXPECT_EQ(pool->stats().connections, 0u);
    EXPECT_TRUE(co_await goodClientWorks());
  });
}

TEST_F(HboneRobustnessTest, Http1InsideTlsIsClosedAndServerStaysHealthy) {
  startServer();
  run([&]() -> asio::awaitable<void> {
    auto ctx = makeContext(&client_cert_, pki_.caPem());
    CO_ASSERT(configureClientContext(ctx->native_handle()));
    asio::ssl::stream<tcp::socket> tls(ioc_, *ctx);
    co_await tls.lowest_layer().async_connect(server_address_, kUse);
    co_await tls.async_handshake(asio::ssl::stream_base::client, kUse);
    std::string http1 = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    co_await asio::async_write(tls, asio::buffer(http1), kUse);
    auto took = co_await timeToClose(tls, tls.next_layer(), 5000ms);
    EXPECT_GE(took.count(), 0) << "server did not close an HTTP/1 connection";
    EXPECT_TRUE(co_await goodClientWorks());
  });
}

TEST_F(HboneRobustnessTest, PlainGarbageIsClosed) {
  startServer();
  run([&]() -> asio::awaitable<void> {
    tcp::socket s(ioc_);
    co_await s.async_connect(server_address_, kUse);
    std::string junk(2000, '\x17');
    junk.replace(0, 20, "this is not TLS\r\n\r\n");
    error_code ec;
    co_await asio::async_write(s, asio::buffer(junk), asio::redirect_error(kUse, ec));
    auto took = co_await timeToClose(s, s, 5000ms);
    EXPECT_GE(took.count(), 0) << "server did not close a non-TLS connection";
    EXPECT_TRUE(co_await goodClientWorks());
  });
}

TEST_F(HboneRobustnessTest, HalfOpenHandshakeClosedAfterTimeout) {
  ServerOptions opts;
  opts.handshake_timeout = 300ms;
  startServer(opts);
  run([&]() -> asio::awaitable<void> {
    tcp::socket s(ioc_);
    co_await s.async_connect(server_address_, kUse);
    auto took = co_await timeToClose(s, s, 5000ms);  // we never send a ClientHello
    EXPECT_GE(took.count(), 250);
    EXPECT_LT(took.count(), 3000);
    EXPECT_TRUE(co_await goodClientWorks());
  });
}

TEST_F(HboneRobustnessTest, ServerClosesIdleConnection) {
  ServerOptions opts;
  opts.http2.idle_timeout = 200ms;
  startServer(opts);
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    {
      auto s = co_await pool->connect(destination(), request(echo_port_));
      CO_ASSERT_OK(s);
      s->shutdownWrite();
      EXPECT_EQ(co_await readAll(*s), "");
    }
    co_await sleep(600ms);
    EXPECT_EQ(pool->stats().connections, 0u);
    EXPECT_EQ(server_->stats().active_connections, 0u);
  });
}

TEST_F(HboneRobustnessTest, DrainLetsOpenTunnelFinishAndRefusesNewConnections) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    bool drained = false;
    spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          co_await server_->drain(std::chrono::steady_clock::now() + 10s);
          drained = true;
        },
        "test drain");
    co_await sleep(50ms);
    EXPECT_FALSE(drained);
    auto refused = co_await pool->connect(destination(), request(echo_port_));  // GOAWAY seen
    EXPECT_FALSE(refused);
    CO_ASSERT_OK(co_await s->write(asio::buffer(std::string("late bytes"))));
    s->shutdownWrite();
    EXPECT_EQ(co_await readAll(*s), "late bytes");
    auto start = std::chrono::steady_clock::now();
    while (!drained && std::chrono::steady_clock::now() - start < 5s) co_await sleep(10ms);
    EXPECT_TRUE(drained);
  });
}

TEST_F(HboneRobustnessTest, DrainDeadlineClosesStragglers) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    auto start = std::chrono::steady_clock::now();
    co_await server_->drain(std::chrono::steady_clock::now() + 300ms);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 3s);
    std::string rest = co_await readAll(*s);
    EXPECT_EQ(rest.rfind("ERR:", 0), 0u) << rest;
  });
}

}  // namespace
}  // namespace ambit::hbone::testing
