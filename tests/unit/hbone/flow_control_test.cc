// Back-pressure and resets: a stalled reader on either side stops the sender instead of
// growing buffers; TCP resets and RST_STREAM map onto each other; a peer that stops
// answering PINGs is dropped.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
constexpr auto kUse = asio::use_awaitable;
constexpr size_t kMiB = 1u << 20;
// Loopback socket buffers may absorb several MiB beyond the HTTP/2 windows.
constexpr size_t kKernelSlack = 16 * kMiB;

class HboneFlowControlTest : public HboneFixture {
 protected:
  // Upstream sockets parked without being read.
  std::vector<std::shared_ptr<tcp::socket>> parked_;
};

asio::awaitable<uint64_t> drainSocket(tcp::socket& s) {
  std::vector<char> buf(64 << 10);
  uint64_t total = 0;
  error_code ec;
  while (!ec) {
    total += co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
  }
  co_return total;
}

TEST_F(HboneFlowControlTest, StalledUpstreamStopsTheClientWriter) {
  ServerOptions opts;
  opts.http2.stream_window = 1 * kMiB;
  startServer(opts);
  uint16_t port = startUpstream([this](tcp::socket s) -> asio::awaitable<void> {
    parked_.push_back(std::make_shared<tcp::socket>(std::move(s)));
    co_return;
  });
  auto pool = makePool();
  constexpr size_t kTotal = 64 * kMiB;
  size_t accepted = 0;
  uint64_t delivered = 0;
  run(
      [&]() -> asio::awaitable<void> {
        auto s = co_await pool->connect(destination(), request(port));
        CO_ASSERT_OK(s);
        auto writer = [&]() -> asio::awaitable<void> {
          std::vector<uint8_t> chunk(64 << 10, 0x5a);
          while (accepted < kTotal) {
            CO_ASSERT_OK(co_await s->write(asio::buffer(chunk)));
            accepted += chunk.size();
          }
          s->shutdownWrite();
        };
        auto observer = [&]() -> asio::awaitable<void> {
          co_await sleep(1000ms);
          size_t stalled_at = accepted;
          co_await sleep(300ms);
          EXPECT_EQ(accepted, stalled_at) << "writer kept going while nobody read";
          EXPECT_LT(accepted, 1 * kMiB + kKernelSlack);
          CO_ASSERT(parked_.size() == 1);
          delivered = co_await drainSocket(*parked_[0]);  // now read: the writer must resume
        };
        co_await (writer() && observer());
      },
      60s);
  EXPECT_EQ(accepted, kTotal);
  EXPECT_EQ(delivered, kTotal);
}

TEST_F(HboneFlowControlTest, ClientNotReadingStopsTheUpstreamWriter) {
  startServer();
  constexpr size_t kTotal = 48 * kMiB;
  size_t produced = 0;
  uint16_t port = startUpstream([&](tcp::socket s) -> asio::awaitable<void> {
    std::vector<uint8_t> chunk(64 << 10, 0xa5);
    error_code ec;
    while (produced < kTotal && !ec) {
      co_await asio::async_write(s, asio::buffer(chunk), asio::redirect_error(kUse, ec));
      produced += chunk.size();
    }
    s.shutdown(tcp::socket::shutdown_send, ec);
  });
  auto pool = makePool();
  std::string got;
  run(
      [&]() -> asio::awaitable<void> {
        auto s = co_await pool->connect(destination(), request(port));
        CO_ASSERT_OK(s);
        co_await sleep(1000ms);
        size_t stalled_at = produced;
        co_await sleep(300ms);
        EXPECT_EQ(produced, stalled_at) << "upstream kept being read while the client did not";
        EXPECT_LT(produced, 4 * kMiB + kKernelSlack);
        s->shutdownWrite();
        got = co_await readAll(*s);
      },
      60s);
  EXPECT_EQ(got.size(), kTotal);
}

TEST_F(HboneFlowControlTest, UpstreamResetResetsTheStream) {
  startServer();
  uint16_t port = startUpstream([](tcp::socket s) -> asio::awaitable<void> {
    std::array<char, 16> buf{};
    error_code ec;
    co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);
  });
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(port));
    CO_ASSERT_OK(s);
    CO_ASSERT_OK(co_await s->write(asio::buffer(std::string("x"))));
    std::string rest = co_await readAll(*s);
    EXPECT_EQ(rest.rfind("ERR:", 0), 0u) << "want a reset, got data/EOF: " << rest;
  });
}

TEST_F(HboneFlowControlTest, StreamResetReachesUpstreamAsTcpReset) {
  startServer();
  error_code upstream_error;
  bool upstream_done = false;
  uint16_t port = startUpstream([&](tcp::socket s) -> asio::awaitable<void> {
    std::vector<char> buf(1024);
    while (!upstream_error) {
      co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, upstream_error));
    }
    upstream_done = true;
  });
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(port));
    CO_ASSERT_OK(s);
    CO_ASSERT_OK(co_await s->write(asio::buffer(std::string("abc"))));
    co_await sleep(50ms);
    s->reset();
    for (int i = 0; i < 200 && !upstream_done; ++i) co_await sleep(10ms);
  });
  EXPECT_TRUE(upstream_done);
  EXPECT_EQ(upstream_error, asio::error::connection_reset) << upstream_error.message();
}

// A server that completes TLS and sends SETTINGS, then never answers anything.
asio::awaitable<void> silentServer(tcp::acceptor& acceptor, asio::ssl::context& ctx) {
  tcp::socket raw = co_await acceptor.async_accept(kUse);
  asio::ssl::stream<tcp::socket> tls(std::move(raw), ctx);
  co_await tls.async_handshake(asio::ssl::stream_base::server, kUse);
  const std::array<uint8_t, 9> empty_settings = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  co_await asio::async_write(tls, asio::buffer(empty_settings), kUse);
  co_await drainSocket(tls.next_layer());  // reads raw TLS records, answers nothing
}

TEST_F(HboneFlowControlTest, UnansweredPingsCloseTheConnection) {
  auto ctx = makeContext(&server_cert_, pki_.caPem());
  ASSERT_TRUE(configureServerContext(ctx->native_handle()));
  tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  server_address_ = acceptor.local_endpoint();
  spawn(ioc_, silentServer(acceptor, *ctx), "silent HBONE server");
  PoolOptions opts;
  opts.keepalive_interval = 100ms;
  opts.keepalive_timeout = 200ms;
  auto pool = makePool(opts);
  run([&]() -> asio::awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    auto s = co_await pool->connect(destination(), request(echo_port_));
    auto took = std::chrono::steady_clock::now() - start;
    CO_ASSERT(!s);
    EXPECT_LT(took, 3s) << s.error().message;
    EXPECT_EQ(pool->stats().connections, 0u);
    EXPECT_GE(pool->stats().pings_sent, 1u);
    EXPECT_EQ(pool->stats().pings_acked, 0u);
  });
}

}  // namespace
}  // namespace ambit::hbone::testing
