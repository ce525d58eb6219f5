// Data path: CONNECT round trips, request headers, a 64 MiB byte-exact transfer, small messages
// back and forth, half-close through spliceWith, SpliceTo's callback, the heap an idle tunnel
// holds, and many concurrent streams on one connection.
#include <malloc.h>

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;

class HboneTunnelTest : public HboneFixture {};

// Deterministic pseudo-random bytes and an order-sensitive checksum over them.
struct Pattern {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  void fill(std::vector<uint8_t>& buf) {
    for (auto& b : buf) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      b = static_cast<uint8_t>(state);
    }
  }
};
struct Checksum {
  uint64_t h = 1469598103934665603ull;
  void add(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

TEST_F(HboneTunnelTest, EchoRoundTripCarriesHeadersAndIdentities) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    TunnelRequest req = request(echo_port_);
    req.baggage = "k=v";
    auto s = co_await pool->connect(destination(), req);
    CO_ASSERT_OK(s);
    EXPECT_EQ(s->peerIdentity(), kServerId);
    std::string msg = "hello through the mesh";
    CO_ASSERT_OK(co_await s->write(asio::buffer(msg)));
    s->shutdownWrite();
    EXPECT_EQ(co_await readAll(*s), msg);
  });
  ASSERT_EQ(requests_.size(), 1u);
  const auto& r = requests_[0];
  EXPECT_EQ(r.peer_identity, kClientId);
  EXPECT_EQ(r.authority, "127.0.0.1:" + std::to_string(echo_port_));
  ASSERT_NE(findHeader(r.headers, "forwarded"), nullptr);
  EXPECT_EQ(*findHeader(r.headers, "forwarded"), "for=\"10.1.2.3\"");
  ASSERT_NE(findHeader(r.headers, "traceparent"), nullptr);
  EXPECT_TRUE(isValidTraceparent(*findHeader(r.headers, "traceparent")));
  ASSERT_NE(findHeader(r.headers, "baggage"), nullptr);
  EXPECT_EQ(*findHeader(r.headers, "baggage"), "k=v");
}

TEST_F(HboneTunnelTest, Transfers64MiBByteExactBothWays) {
  startServer();
  auto pool = makePool();
  constexpr size_t kTotal = 64u << 20;
  Checksum sent, received;
  size_t received_bytes = 0;
  auto started = std::chrono::steady_clock::now();
  run(
      [&]() -> asio::awaitable<void> {
        auto s = co_await pool->connect(destination(), request(echo_port_));
        CO_ASSERT_OK(s);
        HboneStream& stream = *s;
        auto writer = [&]() -> asio::awaitable<void> {
          Pattern pattern;
          std::vector<uint8_t> buf(48 << 10);
          for (size_t off = 0; off < kTotal; off += buf.size()) {
            buf.resize(std::min(buf.size(), kTotal - off));
            pattern.fill(buf);
            sent.add(buf.data(), buf.size());
            Status st = co_await stream.write(asio::buffer(buf));
            CO_ASSERT_OK(st);
          }
          stream.shutdownWrite();
        };
        auto reader = [&]() -> asio::awaitable<void> {
          std::vector<uint8_t> buf(100 << 10);
          for (;;) {
            auto n = co_await stream.read(asio::buffer(buf));
            CO_ASSERT_OK(n);
            if (*n == 0) break;
            received.add(buf.data(), *n);
            received_bytes += *n;
          }
        };
        co_await (writer() && reader());
        for (int i = 0; i < 200 && tunnels_.empty(); ++i) co_await sleep(10ms);
      },
      120s);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(received_bytes, kTotal);
  EXPECT_EQ(received.h, sent.h);
  EXPECT_LT(elapsed, 60s);
  ASSERT_EQ(tunnels_.size(), 1u);
  EXPECT_EQ(tunnels_[0].bytes_sent, kTotal);      // upstream -> tunnel on the server
  EXPECT_EQ(tunnels_[0].bytes_received, kTotal);  // tunnel -> upstream
  EXPECT_TRUE(tunnels_[0].status) << tunnels_[0].status.message();
}

// An app socket spliced into a tunnel: the app's shutdown(SHUT_WR) reaches the upstream as
// EOF while the way back stays open; the upstream's answer and its EOF come back.
// Thousands of tiny writes pile up as small DATA chunks; the server's gathered TCP writes and the
// block queue must deliver them in order, none lost or repeated (and the echo comes back the
// same way).
TEST_F(HboneTunnelTest, ManySmallChunksArriveInOrderThroughGatheredWrites) {
  startServer();
  auto pool = makePool();
  std::string sent;
  std::string echoed;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    for (int i = 0; i < 5000; ++i) {
      const std::string chunk = std::to_string(i) + ",";
      CO_ASSERT_OK(co_await s->write(asio::buffer(chunk)));
      sent += chunk;
    }
    s->shutdownWrite();
    echoed = co_await readAll(*s);
  });
  EXPECT_EQ(echoed.size(), sent.size());
  EXPECT_TRUE(echoed == sent) << "echo differs from the 5000 chunks sent";
}

// Request/response through the server's splice to the echo upstream: after each echo (a small
// short read) the splice waits for readability without reading again; every one must still come
// back, in turn.
TEST_F(HboneTunnelTest, SmallMessagesBackAndForthAllComeBackInTurn) {
  startServer();
  auto pool = makePool();
  int round_trips = 0;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    for (int i = 0; i < 200; ++i) {
      const std::string message = "message " + std::to_string(i) + std::string(i % 37, '.');
      CO_ASSERT_OK(co_await s->write(asio::buffer(message)));
      std::string back;
      std::array<char, 256> buf;
      while (back.size() < message.size()) {
        auto n = co_await s->read(asio::buffer(buf.data(), message.size() - back.size()));
        CO_ASSERT_OK(n);
        if (*n == 0) break;
        back.append(buf.data(), *n);
      }
      if (back != message) break;
      ++round_trips;
    }
    s->shutdownWrite();
    co_await readAll(*s);
  });
  EXPECT_EQ(round_trips, 200);
}

// One gathered write of many pieces (empty ones too) larger than the stream's send buffer: it
// waits for room in the middle of a piece and goes on from there; the echo is the pieces in
// order, byte for byte.
TEST_F(HboneTunnelTest, AGatheredWriteLargerThanTheSendBufferArrivesWhole) {
  startServer();
  PoolOptions options;
  options.http2.stream_send_buffer = 4096;
  auto pool = makePool(options);
  std::vector<std::string> parts;
  for (int i = 0; i < 3000; ++i) parts.push_back(i % 7 == 0 ? "" : std::to_string(i) + ",");
  parts.push_back(std::string(50000, 'x'));  // one piece alone over ten send buffers
  parts.push_back("end");
  std::string sent;
  std::vector<asio::const_buffer> pieces;
  for (const auto& p : parts) {
    sent += p;
    pieces.push_back(asio::buffer(p));
  }
  std::string echoed;
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    CO_ASSERT_OK(co_await s->write(std::span<const asio::const_buffer>(pieces)));
    s->shutdownWrite();
    echoed = co_await readAll(*s);
  });
  EXPECT_EQ(echoed.size(), sent.size());
  EXPECT_TRUE(echoed == sent) << "echo differs from the pieces sent";
}

TEST_F(HboneTunnelTest, SpliceMapsHalfCloseBothWaysAndCountsBytes) {
  startServer();
  auto pool = makePool();
  SpliceResult result;
  std::string answer;
  run([&]() -> asio::awaitable<void> {
    tcp::acceptor local(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket app(ioc_);
    error_code ec;
    co_await app.async_connect(local.local_endpoint(),
                               asio::redirect_error(asio::use_awaitable, ec));
    CO_ASSERT(!ec);
    tcp::socket captured = co_await local.async_accept(asio::use_awaitable);
    auto s = co_await pool->connect(destination(), request(summary_port_));
    CO_ASSERT_OK(s);
    auto appSide = [&]() -> asio::awaitable<void> {
      co_await asio::async_write(app, asio::buffer(std::string("hello")), asio::use_awaitable);
      app.shutdown(tcp::socket::shutdown_send);
      std::vector<char> buf(256);
      for (;;) {
        size_t n = co_await app.async_read_some(asio::buffer(buf),
                                                asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        answer.append(buf.data(), n);
      }
      EXPECT_EQ(ec, asio::error::eof);
    };
    auto splice = [&]() -> asio::awaitable<void> { result = co_await s->spliceWith(captured); };
    co_await (appSide() && splice());
  });
  EXPECT_EQ(answer, "got 5");
  EXPECT_TRUE(result.status) << result.status.message();
  EXPECT_EQ(result.bytes_sent, 5u);
  EXPECT_EQ(result.bytes_received, 5u);
}

TEST_F(HboneTunnelTest, SpliceToCallsItsOnClosedOnceWithTheCountsAndTheObserverToo) {
  answer_splice_to_ = true;
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(summary_port_));
    CO_ASSERT_OK(s);
    CO_ASSERT_OK(co_await s->write(asio::buffer(std::string("hello"))));
    s->shutdownWrite();
    EXPECT_EQ(co_await readAll(*s), "got 5");
    for (int i = 0; i < 100 && spliced_to_.empty(); ++i) co_await sleep(10ms);
  });
  ASSERT_EQ(spliced_to_.size(), 1u);
  EXPECT_TRUE(spliced_to_[0].status) << spliced_to_[0].status.message();
  EXPECT_EQ(spliced_to_[0].bytes_received, 5u);  // tunnel -> upstream
  EXPECT_EQ(spliced_to_[0].bytes_sent, 5u);      // "got 5" back
  ASSERT_EQ(tunnels_.size(), 1u) << "on_tunnel_closed still sees a SpliceTo's tunnel";
  EXPECT_EQ(tunnels_[0].bytes_received, 5u);
}

// Heap held per open, idle tunnel (both ends in this process: the client's stream, the server's
// stream and splice, the upstream socket, plus the pool's extra connections and the fixture's
// request log): no coroutine frame stays behind for it. Measured 6.2 KB; the bound is 7.5 KB:
// the coroutine splice this replaced held ~4 KB more per tunnel (the server's stream coroutine,
// both copy-loop frames, a spawned coroutine's entry), and 2 KB more in Splice fails it (checked).
TEST_F(HboneTunnelTest, AnIdleSplicedTunnelHoldsNoCoroutine) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's allocator: mallinfo2 does not see the heap";
#endif
  std::vector<tcp::socket> held;
  const uint16_t hold_port = startUpstream([&held](tcp::socket s) -> asio::awaitable<void> {
    held.push_back(std::move(s));
    co_return;
  });
  ServerOptions options;
  startServer(options);
  auto pool = makePool();
  std::vector<HboneStream> open;
  auto openTunnels = [&](int n) {
    run([&]() -> asio::awaitable<void> {
      for (int i = 0; i < n; ++i) {
        auto s = co_await pool->connect(destination(), request(hold_port));
        CO_ASSERT_OK(s);
        open.push_back(std::move(*s));
      }
      while (held.size() < open.size()) co_await sleep(5ms);
      co_await sleep(20ms);  // let every handler and post run out
    });
  };
  openTunnels(50);  // warm-up: caches, the connection's buffers, hash tables
  requests_.clear();
  requests_.shrink_to_fit();
  constexpr int kTunnels = 400;
  open.reserve(open.size() + kTunnels);
  held.reserve(held.size() + kTunnels);
  requests_.reserve(kTunnels);
  const size_t before = mallinfo2().uordblks;
  openTunnels(kTunnels);
  const size_t after = mallinfo2().uordblks;
  const double per_tunnel = static_cast<double>(after - before) / kTunnels;
  RecordProperty("heap_bytes_per_idle_tunnel", static_cast<int>(per_tunnel));
  EXPECT_LT(per_tunnel, 7500.0) << "heap per idle tunnel, both ends";
  EXPECT_EQ(held.size(), open.size());
  EXPECT_TRUE(tunnels_.empty()) << "no tunnel ended";
}

TEST_F(HboneTunnelTest, ManyConcurrentStreamsShareOneConnection) {
  startServer();
  auto pool = makePool();
  constexpr int kStreams = 64;
  int ok = 0;
  size_t peak_streams = 0;
  run([&]() -> asio::awaitable<void> {
    int finished = 0;
    for (int i = 0; i < kStreams; ++i) {
      spawn(
          ioc_,
          [&, i]() -> asio::awaitable<void> {
            auto s = co_await pool->connect(destination(), request(echo_port_));
            if (s) {
              peak_streams = std::max(peak_streams, pool->stats().active_streams);
              std::string msg(100000 + i, static_cast<char>('a' + i % 26));
              Status st = co_await s->write(asio::buffer(msg));
              s->shutdownWrite();
              if (st && co_await readAll(*s) == msg) ++ok;
            }
            ++finished;
          },
          "test tunnel");
    }
    while (finished < kStreams) co_await sleep(5ms);
  });
  EXPECT_EQ(ok, kStreams);
  EXPECT_EQ(pool->stats().connections_opened, 1u);
  EXPECT_GT(peak_streams, 1u);
}

TEST_F(HboneTunnelTest, ResetFromUpstreamRefusalIs503) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(1));  // the handler refuses
    CO_ASSERT(!s);
    EXPECT_NE(s.error().message.find("HTTP 503"), std::string::npos) << s.error().message;
  });
}

}  // namespace
}  // namespace ambit::hbone::testing
