// OutboundProxy through fakes: resolution of the original destination (service VIP,
// pod address, waypoint, outside the mesh), refusals, the retry of a tunnel reset before any
// response, failover to the next endpoint and the reset the app sees when all fail.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

#include "tests/support/test_data.h"
#include "tests/unit/ztunnel/harness.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

const std::string kClientId = "spiffe://cluster.local/ns/default/sa/client";
const std::string kServerId = "spiffe://cluster.local/ns/default/sa/my-app";

std::string hostOf(const std::string& authority) {
  return authority.substr(0, authority.rfind(':'));
}

class OutboundTest : public ProxyTest {
 protected:
  // One app connection captured on the client pod's 15001, served to its end.
  Exchange serveOne(std::string send, std::shared_ptr<Pod> pod = nullptr) {
    if (!pod) pod = makePod("client", "client", {"10.1.2.3"});
    auto [app, accepted] = connectedPair();
    asio::co_spawn(io, outbound.serve(pod, std::move(accepted)), asio::detached);
    Exchange x = run(exchange(app, std::move(send)));
    runUntil([&] { return outbound.active() == 0; });
    return x;
  }
};

TEST_F(OutboundTest, ServiceVipGoesThroughHboneToAnEndpointsTargetPort) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.accept("pong");
  Exchange x = serveOne("ping");
  EXPECT_EQ(x.received, "pong");
  EXPECT_EQ(x.end, asio::error::eof);
  ASSERT_EQ(dialer.dials.size(), 1u);
  const Dial& d = dialer.dials[0];
  const std::string ip = hostOf(d.address);
  EXPECT_TRUE(ip == "127.0.0.2" || ip == "127.0.0.3" || ip == "127.0.0.4") << d.address;
  EXPECT_EQ(d.address, ip + ":15008");
  EXPECT_EQ(d.authority, ip + ":8080");
  EXPECT_EQ(d.expected_server_ids, std::vector<std::string>{kServerId});
  EXPECT_EQ(d.source_identity, kClientId);
  EXPECT_EQ(d.source, "10.1.2.3");
  std::map<std::string, std::string> mtls{{"reporter", "source"},
                                          {"connection_security_policy", "mutual_tls"}};
  EXPECT_EQ(counter("istio_tcp_connections_opened_total", mtls), 1);
  EXPECT_EQ(counter("istio_tcp_connections_closed_total", mtls), 1);
  EXPECT_EQ(counter("istio_tcp_received_bytes_total", mtls), 4);  // request: "ping"
  EXPECT_EQ(counter("istio_tcp_sent_bytes_total", mtls), 4);      // response: "pong"
}

// What admin /config_dump lists as live outbound connections.
TEST_F(OutboundTest, ConnectionsBeingServedAreListedUntilTheyEnd) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.accept("pong");
  auto pod = makePod("client", "client", {"10.1.2.3"});
  auto [app, accepted] = connectedPair();
  asio::co_spawn(io, outbound.serve(pod, std::move(accepted)), asio::detached);
  ASSERT_TRUE(runUntil([&] { return dialer.dials.size() == 1; }));
  ASSERT_EQ(outbound.connections().size(), 1u);
  const OutboundProxy::LiveConnection c = outbound.connections().front();
  EXPECT_EQ(c.pod_uid, pod->info.uid());
  EXPECT_EQ(c.remote, "10.96.0.10:80");
  EXPECT_EQ(c.via, dialer.dials[0].address);
  EXPECT_EQ(c.protocol, "HBONE");
  EXPECT_FALSE(c.local.empty());
  app.close();
  runUntil([&] { return outbound.active() == 0; });
  EXPECT_TRUE(outbound.connections().empty());
}

TEST_F(OutboundTest, ServiceEndpointsTakeTurnsAcrossConnections) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.accept("1");
  dialer.accept("2");
  EXPECT_EQ(serveOne("a").received, "1");
  EXPECT_EQ(serveOne("b").received, "2");
  ASSERT_EQ(dialer.dials.size(), 2u);
  EXPECT_NE(dialer.dials[0].address, dialer.dials[1].address);
}

struct Resolution {
  const char* what;
  const char* original_dst;
  uint16_t port;
  const char* connect_to;
  const char* authority;
  const char* expected_id;
};

TEST_F(OutboundTest, MeshDestinationsResolveToTheirHbonePeer) {
  const Resolution cases[] = {
      {"pod address", "127.0.0.3", 8080, "127.0.0.3:15008", "127.0.0.3:8080", kServerId.c_str()},
      {"service with a waypoint", "10.96.0.30", 9080, "10.1.0.9:15008", "10.96.0.30:9080",
       "spiffe://cluster.local/ns/default/sa/waypoint"},
      {"waypoint addressed by its Service's VIP", "10.96.0.31", 9080, "10.1.0.20:15008",
       "10.96.0.31:9080", "spiffe://cluster.local/ns/default/sa/deployed"},
  };
  applyMesh();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    dialer.dials.clear();
    original_dst.answer = std::optional{sockAddr(c.original_dst, c.port)};
    dialer.accept("pong");
    EXPECT_EQ(serveOne("ping").received, "pong");
    ASSERT_EQ(dialer.dials.size(), 1u);
    EXPECT_EQ(dialer.dials[0].address, c.connect_to);
    EXPECT_EQ(dialer.dials[0].authority, c.authority);
    EXPECT_EQ(dialer.dials[0].expected_server_ids, std::vector<std::string>{c.expected_id});
  }
}

// tests/data/named-port-service.yaml
TEST_F(OutboundTest, NamedTargetPortAndTerminatingEndpoints) {
  applyMesh(test::testData("named-port-service.yaml"));
  original_dst.answer = std::optional{sockAddr("10.96.0.40", 80)};
  for (int i = 0; i < 4; ++i) {
    dialer.dials.clear();
    dialer.accept("pong");
    EXPECT_EQ(serveOne("ping").received, "pong");
    // Only api-a: api-b is terminating, api-c has no port named web.
    ASSERT_EQ(dialer.dials.size(), 1u);
    EXPECT_EQ(dialer.dials[0].address, "10.1.9.1:15008");
    EXPECT_EQ(dialer.dials[0].authority, "10.1.9.1:8081");
  }
  // With api-a gone the terminating pod is better than nothing: it serves on its own port.
  std::string without_a = test::testData("named-port-service.yaml");
  without_a.erase(0, without_a.find("---") + 4);
  applyMesh(without_a);
  dialer.dials.clear();
  dialer.accept("pong");
  EXPECT_EQ(serveOne("ping").received, "pong");
  ASSERT_EQ(dialer.dials.size(), 1u);
  EXPECT_EQ(dialer.dials[0].authority, "10.1.9.2:9091");
}

asio::awaitable<void> echoOnce(tcp::acceptor& acceptor) {
  tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
  std::string got;
  boost::system::error_code ec;
  co_await asio::async_read(s, asio::dynamic_buffer(got),
                            asio::redirect_error(asio::use_awaitable, ec));
  std::string answer = "echo:" + got;
  co_await asio::async_write(s, asio::buffer(answer), asio::use_awaitable);
}

TEST_F(OutboundTest, DestinationOutsideTheMeshIsPassthroughFromAPodSocket) {
  applyMesh();
  tcp::acceptor upstream = listenLoopback();
  asio::co_spawn(io, echoOnce(upstream), asio::detached);
  original_dst.answer = std::optional{sockAddr("127.0.0.1", upstream.local_endpoint().port())};
  Exchange x = serveOne("ping");
  EXPECT_EQ(x.received, "echo:ping");
  EXPECT_EQ(x.end, asio::error::eof);
  EXPECT_TRUE(dialer.dials.empty());
  EXPECT_EQ(sockets.sockets_made, 1);
  EXPECT_EQ(counter("istio_tcp_connections_opened_total",
                    {{"reporter", "source"}, {"connection_security_policy", "unknown"}}),
            1);
}

TEST_F(OutboundTest, NoConfigurationYetClosesTheConnection) {
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  Exchange x = serveOne("");
  EXPECT_EQ(x.received, "");
  EXPECT_EQ(x.end, asio::error::eof);
  EXPECT_TRUE(dialer.dials.empty());
  EXPECT_EQ(counter("istio_tcp_connections_opened_total"), 0);
}

TEST_F(OutboundTest, ConnectionWithoutARecordedOriginalDestinationIsClosed) {
  applyMesh();
  original_dst.answer = std::optional<bpf::SockAddr>{};
  Exchange x = serveOne("");
  EXPECT_EQ(x.end, asio::error::eof);
  EXPECT_EQ(original_dst.lookups, 1);
  EXPECT_TRUE(dialer.dials.empty());

  original_dst.answer = makeError("lookup failed");
  EXPECT_EQ(serveOne("").end, asio::error::eof);
  EXPECT_TRUE(dialer.dials.empty());
}

TEST_F(OutboundTest, TunnelResetBeforeAnyResponseIsRetriedOnceOnTheSameEndpoint) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.refuse(ECONNRESET, "no response (REFUSED_STREAM)");
  dialer.accept("pong");
  EXPECT_EQ(serveOne("ping").received, "pong");
  ASSERT_EQ(dialer.dials.size(), 2u);
  EXPECT_EQ(dialer.dials[0].address, dialer.dials[1].address);
  EXPECT_EQ(counter("istio_tcp_connections_failed_total"), 0);
}

TEST_F(OutboundTest, SecondResetMovesOnToTheNextEndpoint) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.refuse(ECONNRESET, "no response");
  dialer.refuse(ECONNRESET, "no response");
  dialer.accept("pong");
  EXPECT_EQ(serveOne("ping").received, "pong");
  ASSERT_EQ(dialer.dials.size(), 3u);
  EXPECT_EQ(dialer.dials[0].address, dialer.dials[1].address);
  EXPECT_NE(dialer.dials[2].address, dialer.dials[0].address);
  EXPECT_EQ(counter("istio_tcp_connections_failed_total"), 1);
}

TEST_F(OutboundTest, RefusedEndpointFailsOverToTheNextWithoutRetry) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.refuse(0, "refused: HTTP 401");
  dialer.accept("pong");
  Exchange x = serveOne("ping");
  EXPECT_EQ(x.received, "pong");
  ASSERT_EQ(dialer.dials.size(), 2u);
  EXPECT_NE(dialer.dials[0].address, dialer.dials[1].address);
  EXPECT_EQ(counter("istio_tcp_connections_failed_total", {{"reporter", "source"}}), 1);
  EXPECT_EQ(counter("istio_tcp_connections_opened_total"), 1);
}

TEST_F(OutboundTest, EveryEndpointFailingResetsTheAppConnection) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  for (int i = 0; i < 3; ++i) dialer.refuse(0, "refused: HTTP 503");
  Exchange x = serveOne("");
  EXPECT_EQ(x.end, asio::error::connection_reset);
  EXPECT_EQ(dialer.dials.size(), 3u) << "each of the service's 3 endpoints";
  EXPECT_EQ(counter("istio_tcp_connections_failed_total"), 3);
  EXPECT_EQ(counter("istio_tcp_connections_opened_total"), 0);
  EXPECT_EQ(counter("ambit_connection_failures_total",
                    {{"direction", "outbound"}, {"reason", "upstream_connect"}}),
            3);
}

TEST_F(OutboundTest, PodWithoutItsCertificateYetDialsNothingAndIsRefused) {
  applyMesh();
  outbound.setCertificateWait(std::chrono::milliseconds(30));
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.accept("pong");
  Exchange x = serveOne("", makePod("client", "client", {"10.1.2.3"}, /*with_cert=*/false));
  EXPECT_EQ(x.end, asio::error::connection_reset);
  EXPECT_TRUE(dialer.dials.empty());
}

// An upgrade: the new ztunnel's listener takes connections before the pod's certificate is in.
TEST_F(OutboundTest, AConnectionWaitsForItsPodsCertificateToArrive) {
  applyMesh();
  original_dst.answer = std::optional{sockAddr("10.96.0.10", 80)};
  dialer.accept("pong");
  auto pod = makePod("client", "client", {"10.1.2.3"}, /*with_cert=*/false);
  asio::steady_timer issued(io, std::chrono::milliseconds(50));
  issued.async_wait([pod](boost::system::error_code) {
    pod->tls->cert = std::make_shared<const identity::WorkloadCertificate>();
  });
  EXPECT_EQ(serveOne("ping", pod).received, "pong");
  ASSERT_EQ(dialer.dials.size(), 1u);
  EXPECT_EQ(dialer.dials[0].source_identity, kClientId);
}

}  // namespace
}  // namespace ambit::ztunnel::testing
