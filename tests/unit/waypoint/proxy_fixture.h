#pragma once
// A waypoint over real HBONE on loopback for the HttpProxy tests: a PKI with client, waypoint
// and app identities, fake endpoints (HBONE servers on 127.0.0.x sharing one port, each with
// the test's own ConnectHandler), the waypoint's HboneServer terminating every tunnel into an
// HttpProxy, and a client pool that tunnels to it with the service VIP as :authority. Every
// peer is verified as the waypoint binary does it (identity::spiffePeerVerifier: every
// X509-SVID rule).
//
// A test class derived from WaypointProxyFixture starts its endpoints with listenEndpoint(),
// then the waypoint with startProxy(), and calls shutdown() first thing in its destructor so
// that everything closes while its own state (which endpoint handlers may reference) is alive.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "common/identity/verify.h"
#include "tests/support/run_coroutine.h"
#include "tests/support/test_pki.h"
#include "tests/unit/waypoint/mesh_fixture.h"
#include "waypoint/http_proxy.h"

namespace ambit::waypoint::testing {

inline constexpr char kClientId[] = "spiffe://cluster.local/ns/default/sa/client";
inline constexpr char kWaypointId[] = "spiffe://cluster.local/ns/default/sa/waypoint";
inline constexpr char kAppId[] = "spiffe://cluster.local/ns/default/sa/my-app";

class WaypointProxyFixture : public ::testing::Test {
 protected:
  explicit WaypointProxyFixture(const std::string& ca_name)
      : pki_(ca_name),
        client_tls_(test::makeContext(&client_cert_, pki_.caPem())),
        waypoint_tls_(test::makeContext(&waypoint_cert_, pki_.caPem())),
        app_tls_(test::makeContext(&app_cert_, pki_.caPem())) {}

  ~WaypointProxyFixture() override { shutdown(std::chrono::milliseconds(20)); }

  // Closes the waypoint, the endpoints and both client pools, then lets the io_context settle
  // for `settle`. Idempotent.
  void shutdown(std::chrono::milliseconds settle) {
    if (shut_down_) return;
    shut_down_ = true;
    if (waypoint_) waypoint_->close();
    for (auto& e : endpoint_servers_) e->close();
    if (client_) client_->close();
    if (upstream_pool_) upstream_pool_->close();
    ioc_.restart();
    ioc_.run_for(settle);
  }

  // An endpoint's HBONE server on `ip`, at the port all endpoints share (the first one picks
  // it); the server is endpoint_servers_.back().
  void listenEndpoint(const std::string& ip, hbone::ConnectHandler handler) {
    auto& server = endpoint_servers_.emplace_back(std::make_unique<hbone::HboneServer>(
        ioc_.get_executor(), *app_tls_, identity::spiffePeerVerifier("cluster.local"),
        std::move(handler)));
    asio::ip::tcp::acceptor a(ioc_);
    asio::ip::tcp::endpoint ep(asio::ip::make_address(ip), endpoint_port_);
    a.open(ep.protocol());
    // The shared port may have connections in TIME_WAIT from earlier tests on this machine.
    a.set_option(asio::socket_base::reuse_address(true));
    a.bind(ep);
    a.listen();
    endpoint_port_ = a.local_endpoint().port();
    ASSERT_TRUE(server->listen(std::move(a)));
  }

  // Starts the waypoint on 127.0.0.1:0 with `services` completed by the fixture's index, router
  // (a default Router unless the test set router_), upstream pool, endpoint port and request
  // recorder. Call after listenEndpoint().
  void startProxy(ProxyServices services, HttpLimits upstream_limits) {
    upstream_pool_ = std::make_unique<hbone::HboneClientPool>(
        ioc_.get_executor(), identity::spiffePeerVerifier("cluster.local"));
    upstream_ = std::make_unique<UpstreamPool>(
        *upstream_pool_,
        [this] {
          return UpstreamCredentials{kWaypointId, waypoint_tls_};
        },
        upstream_limits);
    if (!router_) router_ = std::make_unique<Router>();
    services.index = [this] { return index_; };
    services.router = router_.get();
    services.upstream = upstream_.get();
    services.endpoint_hbone_port = endpoint_port_;
    services.on_request = [this](const RequestRecord& r) { records_.push_back(r); };
    proxy_ = std::make_unique<HttpProxy>(std::move(services));
    waypoint_ = std::make_unique<hbone::HboneServer>(
        ioc_.get_executor(), *waypoint_tls_, identity::spiffePeerVerifier("cluster.local"),
        [this](const hbone::ConnectRequest& req) -> asio::awaitable<hbone::ConnectOutcome> {
          co_return hbone::TerminateTunnel{
              [this, req](hbone::HboneStream s) { return proxy_->serveTunnel(req, std::move(s)); }};
        });
    asio::ip::tcp::acceptor acceptor(
        ioc_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    waypoint_address_ = acceptor.local_endpoint();
    ASSERT_TRUE(waypoint_->listen(std::move(acceptor)));
    client_ = std::make_unique<hbone::HboneClientPool>(
        ioc_.get_executor(), identity::spiffePeerVerifier("cluster.local"));
  }

  // The client (10.1.2.3, identity kClientId) tunnels to the waypoint for `authority`.
  asio::awaitable<Result<hbone::HboneStream>> tunnel(std::string authority = "10.96.0.10:80") {
    hbone::Destination d;
    d.source_identity = kClientId;
    d.tls = client_tls_;
    d.address = waypoint_address_;
    d.expected_server_ids = {kWaypointId};
    hbone::TunnelRequest req;
    req.authority = std::move(authority);
    req.source = asio::ip::make_address("10.1.2.3");
    co_return co_await client_->connect(d, req);
  }

  // Runs `body` on the io_context until it finishes (at most 30 s); rethrows what it threw.
  void run(const std::function<asio::awaitable<void>()>& body) { test::runCoroutine(ioc_, body); }

  asio::io_context ioc_;
  test::TestPki pki_;
  test::CertKey client_cert_ = pki_.issue(kClientId);
  test::CertKey waypoint_cert_ = pki_.issue(kWaypointId);
  test::CertKey app_cert_ = pki_.issue(kAppId);
  std::shared_ptr<asio::ssl::context> client_tls_;
  std::shared_ptr<asio::ssl::context> waypoint_tls_;
  std::shared_ptr<asio::ssl::context> app_tls_;
  std::shared_ptr<const MeshIndex> index_;
  std::vector<std::unique_ptr<hbone::HboneServer>> endpoint_servers_;
  uint16_t endpoint_port_ = 0;
  std::unique_ptr<hbone::HboneClientPool> upstream_pool_;
  std::unique_ptr<UpstreamPool> upstream_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpProxy> proxy_;
  std::unique_ptr<hbone::HboneServer> waypoint_;
  asio::ip::tcp::endpoint waypoint_address_;
  std::unique_ptr<hbone::HboneClientPool> client_;
  std::vector<RequestRecord> records_;

 private:
  bool shut_down_ = false;
};

}  // namespace ambit::waypoint::testing
