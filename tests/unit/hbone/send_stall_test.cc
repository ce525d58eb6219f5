// The send-stall timeout (Http2Options::send_stall_timeout): a tunnel whose bytes wait for a
// peer that takes none of them is reset on either side and its TCP side closed, while a quiet
// tunnel (nothing waiting) and a slow reader that keeps taking bytes are left alone.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto kUse = asio::use_awaitable;
constexpr size_t kKiB = 1u << 10;
constexpr size_t kMiB = 1u << 20;
constexpr auto kStall = 300ms;

// What an on_timeout hook saw.
struct Timeouts {
  std::vector<HboneTimeout> kinds;
  Clock::time_point first{};
  std::function<void(HboneTimeout)> hook() {
    return [this](HboneTimeout t) {
      if (kinds.empty()) first = Clock::now();
      kinds.push_back(t);
    };
  }
};

class HboneSendStallTest : public HboneFixture {
 protected:
  // Waits until `done` holds, checking every 20 ms, at most `limit`.
  asio::awaitable<void> waitFor(const std::function<bool()>& done,
                                std::chrono::milliseconds limit) {
    for (auto end = Clock::now() + limit; !done() && Clock::now() < end;) co_await sleep(20ms);
  }

  std::vector<std::shared_ptr<tcp::socket>> parked_;  // upstream sockets never read
};

// The client opens a tunnel to an upstream that sends without end and never reads it: the
// server's bytes for the tunnel wait on a shut window until the stall timeout resets it.
TEST_F(HboneSendStallTest, ServerResetsATunnelWhoseClientStopsReading) {
  Timeouts server_timeouts;
  ServerOptions opts;
  opts.http2.send_stall_timeout = kStall;
  opts.on_timeout = server_timeouts.hook();
  startServer(opts);
  bool upstream_done = false;
  error_code upstream_error;
  uint16_t port = startUpstream([&](tcp::socket s) -> asio::awaitable<void> {
    std::vector<uint8_t> chunk(64 * kKiB, 0xa5);
    while (!upstream_error) {
      co_await asio::async_write(s, asio::buffer(chunk),
                                 asio::redirect_error(kUse, upstream_error));
    }
    upstream_done = true;
  });
  PoolOptions pool_opts;
  pool_opts.http2.stream_window = 256 * kKiB;
  auto pool = makePool(pool_opts);
  Clock::time_point opened;
  std::string got;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(port));
    CO_ASSERT_OK(s);
    opened = Clock::now();
    co_await waitFor([&] { return upstream_done; }, 10s);
    got = co_await readAll(*s);
  });
  EXPECT_TRUE(upstream_done) << "the upstream socket of the stalled tunnel stayed open";
  ASSERT_EQ(server_timeouts.kinds.size(), 1u);
  EXPECT_EQ(server_timeouts.kinds[0], HboneTimeout::kSendStall);
  EXPECT_GE(server_timeouts.first - opened, kStall) << "reset before the stall timeout";
  EXPECT_EQ(got.rfind("ERR:", 0), 0u)
      << "the client's stream was not reset: got " << got.size() << " bytes";
  ASSERT_EQ(tunnels_.size(), 1u);
  EXPECT_FALSE(tunnels_[0].status.isOk());
}

// The server's upstream never reads: the client's bytes wait on the tunnel's shut window until
// the client's stall timeout resets it and write() fails.
TEST_F(HboneSendStallTest, ClientResetsATunnelWhoseServerStopsReading) {
  ServerOptions opts;
  opts.http2.stream_window = 256 * kKiB;
  startServer(opts);
  uint16_t port = startUpstream([this](tcp::socket s) -> asio::awaitable<void> {
    parked_.push_back(std::make_shared<tcp::socket>(std::move(s)));
    co_return;
  });
  Timeouts client_timeouts;
  PoolOptions pool_opts;
  pool_opts.http2.send_stall_timeout = kStall;
  pool_opts.on_timeout = client_timeouts.hook();
  auto pool = makePool(pool_opts);
  Status write_result = Status::ok();
  size_t written = 0;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(port));
    CO_ASSERT_OK(s);
    std::vector<uint8_t> chunk(64 * kKiB, 0x5a);
    for (;;) {
      write_result = co_await s->write(asio::buffer(chunk));
      if (!write_result) break;
      written += chunk.size();
    }
  });
  EXPECT_FALSE(write_result.isOk()) << "the writer was not failed";
  EXPECT_GT(written, 256 * kKiB) << "the writer stopped before the window was used";
  ASSERT_EQ(client_timeouts.kinds.size(), 1u);
  EXPECT_EQ(client_timeouts.kinds[0], HboneTimeout::kSendStall);
}

// A tunnel with nothing waiting stays open however long it is quiet.
TEST_F(HboneSendStallTest, QuietTunnelOutlivesTheStallTimeout) {
  Timeouts server_timeouts, client_timeouts;
  ServerOptions opts;
  opts.http2.send_stall_timeout = 100ms;
  opts.on_timeout = server_timeouts.hook();
  startServer(opts);
  PoolOptions pool_opts;
  pool_opts.http2.send_stall_timeout = 100ms;
  pool_opts.on_timeout = client_timeouts.hook();
  auto pool = makePool(pool_opts);
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    std::array<char, 4> back{};
    for (const std::string word : {"ping", "pong"}) {
      CO_ASSERT_OK(co_await s->write(asio::buffer(word)));
      size_t got = 0;
      while (got < back.size()) {
        auto n = co_await s->read(asio::buffer(back.data() + got, back.size() - got));
        CO_ASSERT_OK(n);
        CO_ASSERT(*n > 0);
        got += *n;
      }
      EXPECT_EQ(std::string(back.data(), back.size()), word);
      co_await sleep(1000ms);  // ten stall timeouts with nothing waiting
    }
  });
  EXPECT_TRUE(server_timeouts.kinds.empty());
  EXPECT_TRUE(client_timeouts.kinds.empty());
  EXPECT_EQ(pool->stats().connections, 1u);
}

// A reader that takes a little at a time reopens the window before the stall timeout: the bytes
// waiting for it make progress, so the tunnel is not reset.
TEST_F(HboneSendStallTest, SlowReaderThatKeepsReadingIsNotReset) {
  Timeouts server_timeouts;
  ServerOptions opts;
  opts.http2.send_stall_timeout = 500ms;
  opts.on_timeout = server_timeouts.hook();
  startServer(opts);
  constexpr size_t kTotal = 2 * kMiB;
  uint16_t port = startUpstream([&](tcp::socket s) -> asio::awaitable<void> {
    std::vector<uint8_t> all(kTotal, 0x3c);
    error_code ec;
    co_await asio::async_write(s, asio::buffer(all), asio::redirect_error(kUse, ec));
    s.shutdown(tcp::socket::shutdown_send, ec);
  });
  PoolOptions pool_opts;
  pool_opts.http2.stream_window = 128 * kKiB;
  auto pool = makePool(pool_opts);
  size_t received = 0;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(port));
    CO_ASSERT_OK(s);
    s->shutdownWrite();
    std::vector<char> buf(32 * kKiB);
    for (;;) {
      auto n = co_await s->read(asio::buffer(buf));
      CO_ASSERT_OK(n);
      if (*n == 0) break;
      received += *n;
      co_await sleep(10ms);
    }
  });
  EXPECT_EQ(received, kTotal);
  EXPECT_TRUE(server_timeouts.kinds.empty());
}

}  // namespace
}  // namespace ambit::hbone::testing
