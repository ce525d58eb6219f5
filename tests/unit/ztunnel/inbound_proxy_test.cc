// InboundProxy through fakes: the HBONE CONNECT decisions (400 bad authority or a self-call to
// a ztunnel port, 401 policy deny, 503 app refused, else the app socket) and steered
// plaintext (PeerAuthentication, AuthorizationPolicy, carried to the app over loopback).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"
#include "tests/support/log_capture.h"
#include "tests/support/requirements.h"
#include "tests/unit/ztunnel/harness.h"
#include "tests/unit/ztunnel/policies.h"
#include "ztunnel/connection_limits.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

const std::string kClientId = "spiffe://cluster.local/ns/default/sa/client";

class InboundTest : public ProxyTest {
 protected:
  hbone::ConnectRequest request(const std::string& ip, uint16_t port) {
    hbone::ConnectRequest r;
    r.peer_identity = kClientId;
    r.peer_address = tcp::endpoint(asio::ip::make_address("10.1.2.3"), 40000);
    r.target = tcp::endpoint(asio::ip::make_address(ip), port);
    r.authority = ip + ":" + std::to_string(port);
    return r;
  }
  int status(const hbone::ConnectOutcome& o) {
    return std::holds_alternative<int>(o) ? std::get<int>(o) : 200;
  }
  // A port nothing listens on (it was bound a moment ago).
  uint16_t closedPort() { return listenLoopback().local_endpoint().port(); }

  std::shared_ptr<Pod> server = makePod("my-app-v1", "my-app", {"127.0.0.2"});
  tcp::acceptor app = listenLoopback();
  uint16_t app_port = app.local_endpoint().port();
};

TEST_F(InboundTest, AuthorityThatIsNotThisPodIs400) {
  applyMesh();
  auto req = request("127.0.0.3", app_port);
  EXPECT_EQ(status(run(inbound.onHboneConnect(server, req))), 400);
  EXPECT_FALSE(hasPendingConnection(app));
}

TEST_F(InboundTest, SelfCallToAZtunnelPortIs400) {
  applyMesh();
  for (uint16_t port : {15001, 15006, 15008}) {
    auto req = request("127.0.0.2", port);
    EXPECT_EQ(status(run(inbound.onHboneConnect(server, req))), 400) << port;
  }
  EXPECT_EQ(sockets.sockets_made, 0);
}

TEST_F(InboundTest, PolicyDenyIs401AndNothingReachesTheApp) {
  applyMesh(kDenyClientYaml);
  auto req = request("127.0.0.2", app_port);
  test::LogCapture log;
  EXPECT_EQ(status(run(inbound.onHboneConnect(server, req))), 401);
  // One access-log record naming the decision and the policy.
  std::string text = log.text();
  EXPECT_NE(text.find("access start_time="), std::string::npos) << text;
  EXPECT_NE(text.find(" direction=inbound protocol=HBONE "), std::string::npos) << text;
  EXPECT_NE(text.find(" authz=deny policy=default/deny-client reason="), std::string::npos) << text;
  EXPECT_NE(text.find(" response_flags=DENY bytes_sent=0 bytes_recv=0 "), std::string::npos)
      << text;
  EXPECT_FALSE(hasPendingConnection(app));
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_EQ(counter("istio_tcp_connections_failed_total",
                    {{"reporter", "destination"}, {"response_flags", "DENY"}}),
            1);
  EXPECT_EQ(counter("ambit_connection_failures_total",
                    {{"direction", "inbound"}, {"reason", "policy_denied"}}),
            1);
}

TEST_F(InboundTest, AppRefusingIs503) {
  applyMesh();
  auto req = request("127.0.0.2", closedPort());
  EXPECT_EQ(status(run(inbound.onHboneConnect(server, req))), 503);
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_EQ(counter("istio_tcp_connections_failed_total", {{"response_flags", "UF"}}), 1);
  EXPECT_EQ(counter("ambit_connection_failures_total",
                    {{"direction", "inbound"}, {"reason", "app_unreachable"}}),
            1);
}

TEST_F(InboundTest, AdmittedTunnelGetsTheAppSocketAndIsTrackedUntilClosed) {
  applyMesh();
  auto req = request("127.0.0.2", app_port);
  hbone::ConnectOutcome outcome = run(inbound.onHboneConnect(server, req));
  ASSERT_TRUE(std::holds_alternative<hbone::SpliceTo>(outcome));
  hbone::SpliceTo& to = std::get<hbone::SpliceTo>(outcome);
  EXPECT_EQ(to.upstream.remote_endpoint(), app.local_endpoint());
  ASSERT_TRUE(to.on_closed);
  EXPECT_TRUE(hasPendingConnection(app));
  EXPECT_EQ(tracker.size(), 1u);
  EXPECT_EQ(gate.allowed, 0) << "without reply routing the app is reached from loopback";

  hbone::SpliceResult spliced;
  spliced.bytes_received = 5;  // tunnel -> app
  spliced.bytes_sent = 7;      // app -> tunnel
  to.on_closed(spliced);
  EXPECT_EQ(tracker.size(), 0u);
  std::map<std::string, std::string> in{{"reporter", "destination"},
                                        {"connection_security_policy", "mutual_tls"}};
  EXPECT_EQ(counter("istio_tcp_connections_opened_total", in), 1);
  EXPECT_EQ(counter("istio_tcp_connections_closed_total", in), 1);
  EXPECT_EQ(counter("istio_tcp_received_bytes_total", in), 5);
  EXPECT_EQ(counter("istio_tcp_sent_bytes_total", in), 7);
}

asio::awaitable<void> answerOnce(tcp::acceptor& acceptor, std::string answer) {
  tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
  std::string got;
  boost::system::error_code ec;
  co_await asio::async_read(s, asio::dynamic_buffer(got),
                            asio::redirect_error(asio::use_awaitable, ec));
  co_await asio::async_write(s, asio::buffer(answer + got), asio::use_awaitable);
}

// Steered plaintext: the client reaches "the pod" on 127.0.0.2:<port> (the 15006 listener's
// accepted socket keeps that local address); the app listens on 127.0.0.1:<same port>.
class PlaintextTest : public ProxyTest {
 protected:
  void SetUp() override {
    steered.open(tcp::v4());
    steered.bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0));
    steered.listen();
    port = steered.local_endpoint().port();
    boost::system::error_code ec;
    app.open(tcp::v4());
    app.bind(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    AMBIT_REQUIRE(ec ? std::optional<std::string>("127.0.0.1:" + std::to_string(port) +
                                                  " is taken: " + ec.message())
                     : std::nullopt);
    app.listen();
  }
  // Connects a client through the steered listener and serves it.
  tcp::socket connectClient() {
    tcp::socket client(io);
    client.connect(steered.local_endpoint());
    asio::co_spawn(io, inbound.servePlaintext(pod, steered.accept()), asio::detached);
    return client;
  }

  std::shared_ptr<Pod> pod = makePod("my-app-v1", "my-app", {"127.0.0.2"});
  tcp::acceptor steered{io};
  tcp::acceptor app{io};
  uint16_t port = 0;
};

TEST_F(PlaintextTest, AllowedPlaintextIsCarriedToTheApp) {
  applyMesh();
  asio::co_spawn(io, answerOnce(app, "app got: "), asio::detached);
  tcp::socket client = connectClient();
  Exchange x = run(exchange(client, "hello"));
  EXPECT_EQ(x.received, "app got: hello");
  EXPECT_EQ(x.end, asio::error::eof);
  runUntil([&] { return counter("istio_tcp_connections_closed_total") == 1; });
  EXPECT_EQ(counter("istio_tcp_connections_opened_total",
                    {{"reporter", "destination"}, {"connection_security_policy", "none"}}),
            1);
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_TRUE(pod->steered.empty());
}

TEST_F(PlaintextTest, TheConnectionLimitSlotIsHeldUntilTheConnectionEnds) {
  applyMesh();
  ConnectionLimits limits(ConnectionCaps{10, 100}, nullptr);
  auto lease = limits.admit(pod->info.uid());
  ASSERT_TRUE(lease);
  tcp::socket client(io);
  client.connect(steered.local_endpoint());
  bool served = false;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await inbound.servePlaintext(pod, steered.accept(), std::move(*lease));
        served = true;
      },
      "plaintext");
  ASSERT_TRUE(runUntil([&] { return served; })) << "set up and handed to the splice";
  tcp::socket at_app = app.accept();
  EXPECT_EQ(limits.open(pod->info.uid()), 1u) << "carried: the slot is still taken";
  client.close();
  at_app.close();
  EXPECT_TRUE(runUntil([&] { return limits.open(pod->info.uid()) == 0; }))
      << "the connection ended: its slot is free";
  EXPECT_TRUE(pod->steered.empty());
}

TEST_F(PlaintextTest, StrictPeerAuthenticationRefusesPlaintext) {
  applyMesh(kStrictYaml);
  tcp::socket client = connectClient();
  Exchange x = run(exchange(client, ""));
  EXPECT_EQ(x.received, "");
  EXPECT_FALSE(hasPendingConnection(app));
  EXPECT_EQ(counter("istio_tcp_connections_failed_total", {{"response_flags", "DENY"}}), 1);
  EXPECT_EQ(counter("ambit_connection_failures_total",
                    {{"direction", "inbound"}, {"reason", "mtls_required"}}),
            1);
}

TEST_F(PlaintextTest, AuthorizationPolicyDenyRefusesPlaintext) {
  applyMesh(kDenyLoopbackYaml);
  tcp::socket client = connectClient();
  Exchange x = run(exchange(client, ""));
  EXPECT_EQ(x.received, "");
  EXPECT_EQ(counter("istio_tcp_connections_failed_total", {{"response_flags", "DENY"}}), 1);
  EXPECT_EQ(counter("istio_tcp_connections_opened_total"), 0);
  EXPECT_EQ(counter("ambit_connection_failures_total",
                    {{"direction", "inbound"}, {"reason", "policy_denied"}}),
            1);
}

}  // namespace
}  // namespace ambit::ztunnel::testing
