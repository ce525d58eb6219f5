// HboneClientPool: stream limits (ours and the server's SETTINGS), idle release, PING
// keepalive, the socket factory and SO_MARK, a CONNECT refused by a GOAWAY sent again.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async/spawn.h"
#include "tests/support/requirements.h"
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

class HbonePoolTest : public HboneFixture {
 protected:
  // Opens `n` tunnels and keeps them open; returns how many succeeded.
  asio::awaitable<size_t> openHeld(HboneClientPool& pool, size_t n,
                                   std::vector<HboneStream>& held) {
    for (size_t i = 0; i < n; ++i) {
      auto s = co_await pool.connect(destination(), request(echo_port_));
      if (!s) {
        ADD_FAILURE() << s.error().message;
        co_return held.size();
      }
      held.push_back(std::move(*s));
    }
    co_return held.size();
  }
};

TEST_F(HbonePoolTest, OpensSecondConnectionPastPoolStreamLimit) {
  startServer();
  PoolOptions opts;
  opts.max_streams_per_connection = 2;
  auto pool = makePool(opts);
  run([&]() -> asio::awaitable<void> {
    std::vector<HboneStream> held;
    CO_ASSERT(co_await openHeld(*pool, 3, held) == 3);
    EXPECT_EQ(pool->stats().connections, 2u);
    EXPECT_EQ(pool->stats().connections_opened, 2u);
    EXPECT_EQ(pool->stats().active_streams, 3u);
  });
}

TEST_F(HbonePoolTest, RespectsServerMaxConcurrentStreamsSetting) {
  ServerOptions server_opts;
  server_opts.http2.max_concurrent_streams = 2;
  startServer(server_opts);
  auto pool = makePool();  // default limit 100
  run([&]() -> asio::awaitable<void> {
    std::vector<HboneStream> held;
    CO_ASSERT(co_await openHeld(*pool, 5, held) == 5);
    EXPECT_EQ(pool->stats().connections_opened, 3u);
  });
}

TEST_F(HbonePoolTest, SeparateConnectionsPerSourceIdentity) {
  startServer();
  auto pool = makePool();
  CertKey other = pki_.issue("spiffe://cluster.local/ns/other/sa/app");
  run([&]() -> asio::awaitable<void> {
    auto a = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(a);
    Destination d = destination();
    d.source_identity = "spiffe://cluster.local/ns/other/sa/app";
    d.tls = makeContext(&other, pki_.caPem());
    auto b = co_await pool->connect(d, request(echo_port_));
    CO_ASSERT_OK(b);
    auto c = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(c);
    EXPECT_EQ(pool->stats().connections_opened, 2u);
  });
  ASSERT_EQ(requests_.size(), 3u);
  EXPECT_EQ(requests_[1].peer_identity, "spiffe://cluster.local/ns/other/sa/app");
  EXPECT_EQ(requests_[2].peer_identity, kClientId);
}

// Two pods with one identity: each gets its own connection (made in its own netns by the
// ztunnel), never the other's.
TEST_F(HbonePoolTest, SeparateConnectionsPerSourceScopeOfOneIdentity) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    Destination a = destination(), b = destination();
    a.source_scope = "pod-a";
    b.source_scope = "pod-b";
    std::vector<HboneStream> held;
    for (const Destination* d : {&a, &b, &a, &b}) {
      auto s = co_await pool->connect(*d, request(echo_port_));
      CO_ASSERT_OK(s);
      held.push_back(std::move(*s));
    }
    EXPECT_EQ(pool->stats().connections_opened, 2u) << "one per scope, reused within it";
  });
  EXPECT_EQ(server_->stats().connections_accepted, 2u);
}

TEST_F(HbonePoolTest, ReleasesIdleConnection) {
  startServer();
  PoolOptions opts;
  opts.http2.idle_timeout = 200ms;
  auto pool = makePool(opts);
  run([&]() -> asio::awaitable<void> {
    {
      auto s = co_await pool->connect(destination(), request(echo_port_));
      CO_ASSERT_OK(s);
      s->shutdownWrite();
      EXPECT_EQ(co_await readAll(*s), "");
    }
    co_await sleep(50ms);
    EXPECT_EQ(pool->stats().connections, 1u);  // not idle long enough yet
    co_await sleep(500ms);
    EXPECT_EQ(pool->stats().connections, 0u);
    auto again = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(again);
    EXPECT_EQ(pool->stats().connections_opened, 2u);
  });
  EXPECT_EQ(server_->stats().connections_accepted, 2u);
}

// The server starts draining (GOAWAY, last-stream-id 1) while a second CONNECT is already on its
// way on the same connection: the server never processes it, and the pool sends it again on a
// fresh connection (here served by the server that took over the port) instead of failing it.
TEST_F(HbonePoolTest, RetriesConnectRefusedByGoawayOnFreshConnection) {
  startServer();
  auto pool = makePool();
  std::unique_ptr<HboneServer> draining;
  run([&]() -> asio::awaitable<void> {
    auto held = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(held);
    draining = std::move(server_);
    spawn(ioc_, draining->drain(std::chrono::steady_clock::now() + 10s), "test drain");
    // The drain has run up to its GOAWAY (queued, not yet read by the client) and closed the
    // listener; a successor listens on the same port.
    co_await asio::post(ioc_, asio::use_awaitable);
    startServer({}, server_address_.port());
    auto retried = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(retried);
    EXPECT_EQ(pool->stats().connections_opened, 2u);
    EXPECT_EQ(server_->stats().connections_accepted, 1u);
    CO_ASSERT_OK(co_await retried->write(asio::buffer(std::string("after the GOAWAY"))));
    retried->shutdownWrite();
    EXPECT_EQ(co_await readAll(*retried), "after the GOAWAY");
    // The drained connection still carries its open tunnel, but takes no new one.
    auto next = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(next);
    EXPECT_EQ(pool->stats().connections_opened, 2u);
    CO_ASSERT_OK(co_await held->write(asio::buffer(std::string("late"))));
    held->shutdownWrite();
    EXPECT_EQ(co_await readAll(*held), "late");
  });
  EXPECT_EQ(requests_.size(), 3u);  // the refused CONNECT never reached the handler
}

TEST_F(HbonePoolTest, SendsPingKeepalivesThatTheServerAnswers) {
  startServer();
  PoolOptions opts;
  opts.keepalive_interval = 50ms;
  opts.keepalive_timeout = 2s;
  auto pool = makePool(opts);
  run([&]() -> asio::awaitable<void> {
    auto s = co_await pool->connect(destination(), request(echo_port_));
    CO_ASSERT_OK(s);
    co_await sleep(400ms);
    EXPECT_GE(pool->stats().pings_sent, 3u);
    EXPECT_GE(pool->stats().pings_acked, 3u);
    EXPECT_EQ(pool->stats().connections, 1u);
  });
}

TEST_F(HbonePoolTest, UsesSocketFactoryAndSetsSocketMark) {
  AMBIT_REQUIRE(test::missingRoot("SO_MARK needs CAP_NET_ADMIN"));
  startServer();
  PoolOptions opts;
  opts.socket_mark = kZtunnelSocketMark;
  auto pool = makePool(opts);
  int factory_fd = -1;
  int factory_calls = 0;
  run([&]() -> asio::awaitable<void> {
    Destination d = destination();
    d.socket_factory = [&](int family) -> Result<int> {
      ++factory_calls;
      factory_fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (factory_fd < 0) return errnoError("socket");
      return factory_fd;
    };
    auto s = co_await pool->connect(d, request(echo_port_));
    CO_ASSERT_OK(s);
    uint32_t mark = 0;
    socklen_t len = sizeof(mark);
    CO_ASSERT(::getsockopt(factory_fd, SOL_SOCKET, SO_MARK, &mark, &len) == 0);
    EXPECT_EQ(mark, 0x539u);
  });
  EXPECT_EQ(factory_calls, 1);
}

TEST_F(HbonePoolTest, AsyncConnectWithCompletionHandler) {
  startServer();
  auto pool = makePool();
  bool called = false;
  pool->asyncConnect(destination(), request(echo_port_), [&](Result<HboneStream> s) {
    called = true;
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
  });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!called && std::chrono::steady_clock::now() < deadline) ioc_.run_one_for(20ms);
  EXPECT_TRUE(called);
}

TEST_F(HbonePoolTest, SocketFactoryErrorIsReported) {
  startServer();
  auto pool = makePool();
  run([&]() -> asio::awaitable<void> {
    Destination d = destination();
    d.socket_factory = [](int) -> Result<int> { return makeError("netns gone"); };
    auto s = co_await pool->connect(d, request(echo_port_));
    CO_ASSERT(!s);
    EXPECT_NE(s.error().message.find("netns gone"), std::string::npos) << s.error().message;
  });
}

}  // namespace
}  // namespace ambit::hbone::testing
