// ConnectionManager: the late policy re-check (open connections a new configuration denies
// are closed, the others stay) and the drain (listeners closed, open connections waited for,
// the end at the deadline).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "tests/unit/ztunnel/policies.h"
#include "tests/unit/ztunnel/registry_harness.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class RecheckTest : public RegistryTest {
 protected:
  // An HBONE tunnel from `peer_identity` admitted to my-app-v1's app; returns the app's side.
  tcp::socket admit(const std::string& peer_identity) {
    hbone::ConnectRequest req;
    req.peer_identity = peer_identity;
    req.peer_address = tcp::endpoint(asio::ip::make_address("10.1.2.3"), 40000);
    req.target = tcp::endpoint(asio::ip::make_address("127.0.0.2"), app.local_endpoint().port());
    req.authority = "127.0.0.2:" + std::to_string(req.target.port());
    hbone::ConnectOutcome outcome = run(inbound.onHboneConnect(server, req));
    EXPECT_TRUE(std::holds_alternative<hbone::SpliceTo>(outcome));
    if (auto* s = std::get_if<hbone::SpliceTo>(&outcome))
      upstreams.push_back(std::move(s->upstream));
    return app.accept();
  }
  // Whether the app's side of a connection has been ended by the ztunnel.
  bool ended(tcp::socket& s) { return run(exchange(s, "")).end == asio::error::eof; }

  tcp::acceptor app = listenLoopback();
  std::shared_ptr<Pod> server = openPod("my-app-v1", "my-app", {"127.0.0.2"});
  std::vector<tcp::socket> upstreams;  // the ztunnel's side (HboneServer would splice it)
};

TEST_F(RecheckTest, NewPolicyClosesTheConnectionsItDeniesAndKeepsTheOthers) {
  applyMesh();
  tcp::socket from_client = admit("spiffe://cluster.local/ns/default/sa/client");
  tcp::socket from_other = admit("spiffe://cluster.local/ns/default/sa/other");
  ASSERT_EQ(tracker.size(), 2u);

  applyMesh(kDenyClientYaml);
  EXPECT_EQ(connections.recheck(*config.current()), 1u);
  EXPECT_TRUE(ended(from_client));
  EXPECT_EQ(tracker.size(), 1u) << "the other identity is still allowed";

  EXPECT_EQ(connections.recheck(*config.current()), 0u) << "nothing more to close";
}

// The tracker keeps why it closed a connection until the proxy forgets it: the access record
// of a connection ended by a policy change says so.
TEST_F(RecheckTest, ClosedConnectionsCarryTheReasonUntilRemoved) {
  auto [client, accepted] = connectedPair();
  auto [client2, accepted2] = connectedPair();
  const auto src = *rbac::IpAddress::parse("10.1.2.3"), dst = *rbac::IpAddress::parse("127.0.0.2");
  uint64_t denied = tracker.add({server->info.uid(), src, dst, 8080, "", accepted.native_handle()});
  uint64_t kept = tracker.add({server->info.uid(), src, dst, 8081, "", accepted2.native_handle()});
  EXPECT_EQ(tracker.closeIf([](const TrackedConnection& c) {
    return c.destination_port == 8080 ? std::string("PeerAuthentication STRICT") : std::string();
  }),
            1u);
  EXPECT_TRUE(ended(client));
  EXPECT_EQ(tracker.remove(kept), "");
  EXPECT_EQ(tracker.remove(denied), "PeerAuthentication STRICT");
  EXPECT_EQ(tracker.remove(denied), "") << "forgotten once removed";
}

TEST_F(RecheckTest, ConnectionsOfAPodThatLeftAreClosed) {
  applyMesh();
  tcp::socket conn = admit("spiffe://cluster.local/ns/default/sa/client");
  pods.closePod(server->info.uid());
  EXPECT_EQ(connections.recheck(*config.current()), 1u);
  EXPECT_TRUE(ended(conn));
}

TEST_F(RecheckTest, PlaintextIsClosedWhenMtlsBecomesRequired) {
  applyMesh();
  auto [client, accepted] = connectedPair();
  tracker.add(TrackedConnection{server->info.uid(), *rbac::IpAddress::parse("10.1.2.3"),
                                *rbac::IpAddress::parse("127.0.0.2"), 8080, "",
                                accepted.native_handle(), 0});
  EXPECT_EQ(connections.recheck(*config.current()), 0u);
  applyMesh(kStrictYaml);
  EXPECT_EQ(connections.recheck(*config.current()), 1u);
  EXPECT_TRUE(ended(client));
}

class DrainTest : public RegistryTest {
 protected:
  void SetUp() override {
    applyMesh();
    original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
    dialer.accept("pong");
    outbound_listener = sockets.where("127.0.0.1", 15001);
    // An app connection captured on the pod's 15001, carried until the app ends it.
    app.connect(outbound_listener);
    runUntil([&] { return outbound.active() == 1; });
  }
  bool refused(const tcp::endpoint& ep) {
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect(ep, ec);
    return ec == asio::error::connection_refused;
  }

  std::shared_ptr<Pod> client = openPod("client", "client", {"10.1.2.3"});
  tcp::endpoint outbound_listener;
  tcp::socket app{io};
  bool done = false;
};

TEST_F(DrainTest, ClosesListenersWaitsForOpenConnectionsThenEnds) {
  connections.beginDrain(std::chrono::steady_clock::now() + std::chrono::minutes(1),
                         [&] { done = true; });
  EXPECT_TRUE(connections.draining());
  EXPECT_TRUE(refused(outbound_listener));
  EXPECT_FALSE(client->inbound_plaintext->is_open());
  EXPECT_FALSE(pods.openPod(std::make_shared<Pod>(Pod{podInfo("late", "late", {"10.0.0.7"})})))
      << "no new pods while draining";

  runFor(std::chrono::milliseconds(300));
  EXPECT_FALSE(done) << "an outbound connection is still open";

  Exchange x = run(exchange(app, "ping"));
  EXPECT_EQ(x.received, "pong");
  EXPECT_TRUE(runUntil([&] { return done; }));
  EXPECT_EQ(outbound.active(), 0u);
}

TEST_F(DrainTest, EndsAtTheDeadlineWithConnectionsStillOpen) {
  connections.beginDrain(std::chrono::steady_clock::now() + std::chrono::milliseconds(200),
                         [&] { done = true; });
  EXPECT_TRUE(runUntil([&] { return done; }));
  EXPECT_EQ(outbound.active(), 1u) << "left for the caller to stop";
}

TEST_F(DrainTest, SecondDrainRequestIsIgnored) {
  int calls = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  connections.beginDrain(deadline, [&] { ++calls; });
  connections.beginDrain(deadline, [&] { ++calls; });
  EXPECT_TRUE(runUntil([&] { return calls > 0; }));
  runFor(std::chrono::milliseconds(200));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ambit::ztunnel::testing
