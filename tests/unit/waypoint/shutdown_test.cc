// Waypoint::stop(): with a shutdown delay the waypoint fails readiness at once but goes on
// accepting and serving (new HBONE connections, new tunnels on open ones, requests in them)
// until the delay is over, then drains; without one it stops accepting at once. A whole waypoint
// on loopback: local config (tests/data/mesh.yaml and a VirtualService answering /teapot with a
// 418 fault, so no upstream is needed), its certificate from a CertificateService on a unix
// socket, and HBONE clients with a certificate of the same CA.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "common/hbone/client_pool.h"
#include "common/identity/ca.h"
#include "common/identity/ca_service.h"
#include "tests/support/run_coroutine.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait.h"
#include "waypoint/waypoint.h"

namespace ambit::waypoint {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr char kTrustDomain[] = "cluster.local";
constexpr char kWaypointId[] = "spiffe://cluster.local/ns/default/sa/waypoint";
constexpr char kClientId[] = "spiffe://cluster.local/ns/default/sa/client";
constexpr char kTeapot[] = R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: my-app}}]
)";

class WaypointShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    identity::EmbeddedCaOptions ca_options;
    ca_options.trustDomain = kTrustDomain;
    auto ca = identity::EmbeddedCa::fromMaterial(
        {pki_.ca().key_pem, pki_.ca().cert_pem, "", pki_.caPem()}, ca_options, "test PKI");
    ASSERT_TRUE(ca) << ca.error().message;
    ca_address_ = "unix:" + dir_.file("ca.sock");
    auto server = identity::CaServer::start(
        ca_address_, std::shared_ptr<identity::CertificateSigner>(std::move(*ca)),
        [](const identity::SpiffeId&, std::string_view) { return Status::ok(); });
    ASSERT_TRUE(server) << server.error().message;
    ca_server_ = std::move(*server);
    dir_.write("config/mesh.yaml", test::meshYaml());
    dir_.write("config/teapot.yaml", kTeapot);
  }

  void TearDown() override {
    if (!runner_.joinable()) return;
    waypoint_->stop();
    runner_.join();
  }

  // Starts the waypoint on its own thread and waits until it is ready.
  void start(std::chrono::milliseconds shutdown_delay) {
    WaypointOptions o;
    o.config_dir = dir_.file("config");
    o.ca_address = ca_address_;
    o.listen_address = "127.0.0.1";
    o.hbone_port = 0;
    o.stats_address = "127.0.0.1";
    o.metrics_port = 0;
    o.readiness_port = 0;
    o.drain_deadline = 2s;
    o.shutdown_delay = shutdown_delay;
    auto wp = Waypoint::create(std::move(o));
    ASSERT_TRUE(wp) << wp.error().message;
    waypoint_ = std::move(*wp);
    runner_ = std::thread([this] { waypoint_->run(); });
    ASSERT_TRUE(test::eventually([&] { return readiness() == 200; }, 30s))
        << "waypoint not ready; /healthz/ready: " << readiness();
  }

  // The status code of GET /healthz/ready; -1 when the port does not answer.
  int readiness() {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), waypoint_->readinessPort()}, ec);
    if (ec) return -1;
    std::string req = "GET /healthz/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    asio::write(s, asio::buffer(req), ec);
    std::string resp;
    asio::read(s, asio::dynamic_buffer(resp), ec);  // to EOF
    if (resp.compare(0, 9, "HTTP/1.1 ") != 0 || resp.size() < 12) return -1;
    return std::stoi(resp.substr(9, 3));
  }

  std::unique_ptr<hbone::HboneClientPool> makePool() {
    return std::make_unique<hbone::HboneClientPool>(client_io_.get_executor(),
                                                    test::spiffeVerifier(kTrustDomain));
  }

  // GET /teapot to my-app (10.96.0.10:80) in a new tunnel from `pool`: the response's version
  // and status code, or "ERR: <why>" when the connection, the tunnel or the request failed.
  std::string teapot(hbone::HboneClientPool& pool) {
    std::string out;
    test::runCoroutine(client_io_, [&]() -> asio::awaitable<void> {
      hbone::Destination d;
      d.source_identity = kClientId;
      d.tls = client_tls_;
      d.address = tcp::endpoint(asio::ip::make_address("127.0.0.1"), waypoint_->hbonePort());
      d.expected_server_ids = {kWaypointId};
      hbone::TunnelRequest r;
      r.authority = "10.96.0.10:80";
      auto stream = co_await pool.connect(d, r);
      if (!stream) {
        out = "ERR: " + stream.error().message;
        co_return;
      }
      std::string req = "GET /teapot HTTP/1.1\r\nHost: my-app\r\nConnection: close\r\n\r\n";
      if (auto st = co_await stream->write(asio::buffer(req)); !st) {
        out = "ERR: " + st.message();
        co_return;
      }
      std::string resp;
      char buf[4096];
      while (resp.find(' ', 9) == std::string::npos) {
        auto n = co_await stream->read(asio::buffer(buf));
        if (!n || *n == 0) {
          out = "ERR: tunnel ended before a response: " + (n ? "EOF" : n.error().message);
          co_return;
        }
        resp.append(buf, *n);
      }
      out = resp.substr(0, resp.find(' ', 9));
    });
    return out;
  }

  // A new HBONE connection (a fresh pool) and a tunnel and request on it.
  std::string teapotOnNewConnection() {
    auto pool = makePool();
    return teapot(*pool);
  }

  test::TestPki pki_{"waypoint shutdown test CA"};
  test::CertKey client_cert_ = pki_.issue(kClientId);
  std::shared_ptr<asio::ssl::context> client_tls_ = test::makeContext(&client_cert_, pki_.caPem());
  test::TempDir dir_{"ambit-waypoint-shutdown"};
  std::string ca_address_;
  std::unique_ptr<identity::CaServer> ca_server_;
  std::unique_ptr<Waypoint> waypoint_;
  std::thread runner_;
  asio::io_context client_io_;
};

constexpr char kServed[] = "HTTP/1.1 418";

TEST_F(WaypointShutdownTest, KeepsServingNewConnectionsThroughTheShutdownDelayThenDrains) {
  // Long enough for the checks below on a busy machine; they end as soon as they pass.
  start(5s);
  auto held = makePool();
  ASSERT_EQ(teapot(*held), kServed);
  ASSERT_EQ(held->stats().connections_opened, 1u);

  waypoint_->stop();
  waypoint_->stop();  // a second stop neither drains nor shortens the delay
  EXPECT_TRUE(test::eventually([&] { return readiness() == 503; }, 5s)) << readiness();
  // Not ready, but serving as before: a new connection, a new tunnel on the open one (no GOAWAY
  // came: the pool would have dialed a second connection).
  EXPECT_EQ(teapotOnNewConnection(), kServed);
  EXPECT_EQ(teapot(*held), kServed);
  EXPECT_EQ(held->stats().connections_opened, 1u);
  EXPECT_EQ(readiness(), 503);

  // After the delay: the drain refuses new connections and run() returns.
  std::string late;
  EXPECT_TRUE(test::eventually(
      [&] {
        late = teapotOnNewConnection();
        return late.starts_with("ERR");
      },
      20s, 100ms))
      << late;
  runner_.join();
}

TEST_F(WaypointShutdownTest, WithoutShutdownDelayStopsAcceptingAtOnce) {
  start(0ms);
  auto held = makePool();
  ASSERT_EQ(teapot(*held), kServed);
  waypoint_->stop();
  // The drain is queued on the waypoint's thread before this connection arrives.
  std::string refused = teapotOnNewConnection();
  EXPECT_TRUE(refused.starts_with("ERR")) << refused;
  // The open connection got GOAWAY: a new tunnel needs a new connection, which is refused.
  refused = teapot(*held);
  EXPECT_TRUE(refused.starts_with("ERR")) << refused;
  EXPECT_TRUE(test::eventually([&] { return readiness() != 200; }, 5s));
  runner_.join();
}

}  // namespace
}  // namespace ambit::waypoint
