// Connection caps: ConnectionLimits' per-pod and per-node counting, the registry refusing a
// pod's connection past its cap (captured outbound: closed, counted by reason, accepted again
// once one closes; an HBONE tunnel: 503), and a pod whose listener-migration sysctl cannot be
// set: served, but the failure is logged and counted (an upgrade would reset its queued
// connections).
#include "ztunnel/connection_limits.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string_view>
#include <vector>

#include "common/hbone/client_pool.h"
#include "tests/support/log_capture.h"
#include "tests/unit/ztunnel/registry_harness.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using test::LogCapture;

// Sends "ping" and reads the 4-byte answer, leaving the connection open.
asio::awaitable<std::string> pingWithoutClosing(asio::ip::tcp::socket& socket) {
  co_await asio::async_write(socket, asio::buffer(std::string_view("ping")), asio::use_awaitable);
  std::string answer(4, '\0');
  co_await asio::async_read(socket, asio::buffer(answer), asio::use_awaitable);
  co_return answer;
}

TEST(ConnectionLimits, RefusesPastThePodCapAndFreesTheSlotWithTheLease) {
  prometheus::Registry registry;
  ConnectionLimits limits(ConnectionCaps{2, 100}, &registry);
  auto a = limits.admit("default/a");
  auto b = limits.admit("default/a");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limits.admit("default/a")) << "a third connection past the pod cap of 2";
  EXPECT_TRUE(limits.admit("default/b")) << "another pod has its own cap";
  EXPECT_EQ(limits.open("default/a"), 2u);
  a.reset();
  EXPECT_EQ(limits.open("default/a"), 1u);
  EXPECT_TRUE(limits.admit("default/a")) << "the closed connection's slot is free again";
  EXPECT_EQ(limits.refused(), 1u);
}

TEST(ConnectionLimits, RefusesPastTheNodeCapWhateverThePod) {
  ConnectionLimits limits(ConnectionCaps{10, 2}, nullptr);
  auto a = limits.admit("default/a");
  auto b = limits.admit("default/b");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limits.admit("default/c"));
  EXPECT_EQ(limits.openOnNode(), 2u);
  ConnectionLimits::Lease moved = std::move(*b);
  b.reset();
  EXPECT_EQ(limits.openOnNode(), 2u) << "a moved lease still holds its slot";
  moved = ConnectionLimits::Lease();
  EXPECT_EQ(limits.openOnNode(), 1u);
  EXPECT_TRUE(limits.admit("default/c"));
}

TEST_F(RegistryTest, APodsConnectionsPastItsCapAreRefusedAndCounted) {
  applyMesh();
  LogCapture log;
  ConnectionLimits limits(ConnectionCaps{1, 100}, registry.get());
  PodRegistry::Options options;
  options.limits = &limits;
  options.registry = registry.get();
  PodRegistry capped{io, options, sockets, steering, identities, outbound, inbound};
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo("client", "client", {"10.1.2.3"});
  ASSERT_TRUE(capped.openPod(pod));
  original_dst.answer = std::optional{sockAddr("127.0.0.2", 8080)};
  dialer.accept("pong");
  tcp::socket held(io);  // the pod's one connection, kept open
  held.connect(sockets.where("127.0.0.1", 15001));
  EXPECT_EQ(run(pingWithoutClosing(held)), "pong");

  dialer.accept("pong");
  tcp::socket refused(io);
  refused.connect(sockets.where("127.0.0.1", 15001));
  auto r = run(exchange(refused, "ping"));
  EXPECT_EQ(r.received, "") << "a connection past the pod's cap was proxied";
  EXPECT_EQ(dialer.dials.size(), 1u);
  EXPECT_EQ(counter("ambit_ztunnel_connections_refused_total", {{"reason", "pod_limit"}}), 1);
  EXPECT_EQ(counter("ambit_ztunnel_connections_refused_total", {{"reason", "node_limit"}}), 0);
  EXPECT_NE(log.text().find("pod default/client: connection refused (pod_limit)"),
            std::string::npos)
      << log.text();

  held.close();
  ASSERT_TRUE(runUntil([&] { return limits.open("default/client") == 0; }));
  tcp::socket again(io);
  again.connect(sockets.where("127.0.0.1", 15001));
  EXPECT_EQ(run(exchange(again, "ping")).received, "pong") << "the freed slot was not reused";
  capped.closePod("default/client");
}

TEST_F(RegistryTest, AnHboneTunnelPastThePodsCapIsRefusedWith503) {
  applyMesh();
  ConnectionLimits limits(ConnectionCaps{1, 100}, registry.get());
  PodRegistry::Options options;
  options.limits = &limits;
  options.registry = registry.get();
  PodRegistry capped{io, options, sockets, steering, identities, outbound, inbound};
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo("my-app-v1", "my-app", {"127.0.0.2"});
  ASSERT_TRUE(capped.openPod(pod));
  const std::string client = "spiffe://cluster.local/ns/default/sa/client";
  identities.acquire(*identity::SpiffeId::parse(client));
  ASSERT_TRUE(
      runUntil([&] { return identities.ready(pod->spiffe_id) && identities.ready(client); }));
  ASSERT_TRUE(capped.startHbone("default/my-app-v1"));

  tcp::acceptor app = listenLoopback();
  hbone::HboneClientPool pool(io.get_executor(), identities.peerVerifier());
  hbone::Destination to;
  to.source_identity = client;
  to.tls = identities.tls(client)->client;
  to.address = sockets.where("::", 15008);
  hbone::TunnelRequest request;
  request.authority = "127.0.0.2:" + std::to_string(app.local_endpoint().port());
  std::vector<hbone::HboneStream> open;  // the tunnels admitted, kept open
  // The tunnel's error message, "" when it was admitted.
  auto connect = [&]() -> asio::awaitable<std::string> {
    auto stream = co_await pool.connect(to, request);
    if (!stream) co_return stream.error().message;
    open.push_back(std::move(*stream));
    co_return "";
  };
  ASSERT_EQ(run(connect()), "");
  EXPECT_EQ(limits.open("default/my-app-v1"), 1u);
  std::string refused = run(connect());
  EXPECT_NE(refused.find("HTTP 503"), std::string::npos)
      << "a tunnel past the pod's cap was not refused: " << refused;
  EXPECT_EQ(counter("ambit_ztunnel_connections_refused_total", {{"reason", "pod_limit"}}), 1);
  pool.close();
  capped.closePod("default/my-app-v1");
}

TEST_F(RegistryTest, AFailedListenerMigrationSetupIsLoggedAndCountedAndThePodServed) {
  LogCapture log;
  PodRegistry::Options options;
  options.registry = registry.get();
  PodRegistry reporting{io, options, sockets, steering, identities, outbound, inbound};
  sockets.migration_error = "set sysctl net/ipv4/tcp_migrate_req=1: Read-only file system";
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo("my-app-v1", "my-app", {"127.0.0.2"});
  ASSERT_TRUE(reporting.openPod(pod)) << "the pod is served all the same";
  EXPECT_EQ(sockets.migrations_enabled, 1);
  EXPECT_EQ(counter("ambit_ztunnel_listener_migration_failures_total"), 1);
  EXPECT_NE(log.text().find("pod default/my-app-v1: set sysctl net/ipv4/tcp_migrate_req=1: "
                            "Read-only file system; its queued connections will be reset"),
            std::string::npos)
      << log.text();
  EXPECT_NE(reporting.find("default/my-app-v1"), nullptr);
  reporting.closePod("default/my-app-v1");
}

TEST(NetnsSocketFactory, ListenerMigrationInANetnsItCannotEnterIsAnError) {
  NetnsSocketFactory sockets;
  UniqueFd not_a_netns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Status st = sockets.enableListenerMigration(not_a_netns.get());
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("tcp_migrate_req"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace ambit::ztunnel::testing
