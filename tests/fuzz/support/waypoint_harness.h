#pragma once
// Fuzzing support: the waypoint's L7 data path as ambit-waypoint assembles it
// (waypoint/waypoint.cc): an HboneServer whose CONNECT handler terminates each tunnel into
// HttpProxy::serveTunnel, with the Router, a RequestAuthenticator and an UpstreamPool. The mesh
// is tests/data/mesh.yaml plus tests/fuzz/support/waypoint_mesh.yaml (routes with matches,
// rewrites, header operations and fault aborts; L7 DENY/ALLOW policies; a RequestAuthentication
// with an inline JWKS; an HTTP/2 service). The upstream has no client certificate, so a
// request that passes routing and policy gets 503 without leaving the process.
//
// serve() runs one connection, whose bytes the harness builds, to its end: the input is
// processed, the client ends its direction, then the server is closed.
// AMBIT_FUZZ_LOG=debug shows what each request became (see fuzzLogLevel()).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>

#include "common/config/loader.h"
#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "common/log.h"
#include "tests/fuzz/support/memory_transport.h"
#include "waypoint/http_proxy.h"

namespace ambit::fuzz {

inline std::string readSourceFile(const std::string& relative) {
  std::ifstream in(std::string(AMBIT_SOURCE_DIR) + "/" + relative);
  if (!in) {
    fprintf(stderr, "cannot read %s\n", relative.c_str());
    abort();
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The log level for a fuzz target: AMBIT_FUZZ_LOG (e.g. debug, to replay one input), else off.
inline const char* fuzzLogLevel() {
  const char* level = getenv("AMBIT_FUZZ_LOG");
  return level ? level : "off";
}

inline std::shared_ptr<const waypoint::MeshIndex> waypointMesh() {
  static const auto index = [] {
    config::LoadResult r =
        config::translate({{"mesh.yaml", readSourceFile("tests/data/mesh.yaml")},
                           {"fuzz.yaml", readSourceFile("tests/fuzz/support/waypoint_mesh.yaml")}});
    for (const auto& e : r.errors) fprintf(stderr, "fuzz mesh: %s\n", e.toString().c_str());
    if (!r.ok()) abort();
    auto built =
        waypoint::MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(std::move(r.snapshot)));
    if (!built) {
      fprintf(stderr, "fuzz mesh: %s\n", built.error().message.c_str());
      abort();
    }
    return *built;
  }();
  return index;
}

// Serves `connection_bytes` (what a client ztunnel sends after TLS) on a fresh waypoint.
inline void serveWaypointConnection(std::string connection_bytes) {
  static asio::ssl::context server_tls(asio::ssl::context::tls_server);
  auto index = waypointMesh();
  asio::io_context io;
  auto feed = std::make_shared<MemoryFeed>(io.get_executor());
  feed->input = std::move(connection_bytes);
  {
    auto verifier = [](X509*, STACK_OF(X509)*) -> Result<std::string> {
      return std::string("spiffe://cluster.local/ns/default/sa/my-app");
    };
    hbone::HboneClientPool pool(io.get_executor(), verifier);
    waypoint::HttpLimits limits{8u << 10, 64u << 10};  // small, so the limits are reachable
    waypoint::UpstreamPool upstream(
        pool,
        [] {
          return waypoint::UpstreamCredentials{"", nullptr};
        },
        limits);
    waypoint::Router router([] { return 0x9e3779b9u; });
    waypoint::RequestAuthenticator authn(nullptr);
    waypoint::ProxyServices services;
    services.index = [index] { return index; };
    services.router = &router;
    services.upstream = &upstream;
    services.authn = &authn;
    services.limits = limits;
    services.on_request = [](const waypoint::RequestRecord& r) {
      logDebug("fuzz: {} {} {} -> {} {} ({})", r.protocol, r.method, r.path, r.status,
               r.response_flags, r.route);
    };
    waypoint::HttpProxy proxy(std::move(services));
    hbone::HboneServer server(
        io.get_executor(), server_tls, verifier,
        [&](const hbone::ConnectRequest& req) -> asio::awaitable<hbone::ConnectOutcome> {
          if (!index->serviceByVip(req.target.address())) co_return 400;
          co_return hbone::TerminateTunnel{
              [&proxy, req](hbone::HboneStream s) { return proxy.serveTunnel(req, std::move(s)); }};
        });
    server.serveSession(std::make_unique<MemoryTransport>(feed),
                        asio::ip::tcp::endpoint(asio::ip::make_address("10.1.2.3"), 40000),
                        "spiffe://cluster.local/ns/default/sa/client");
    runUntilIdle(io);
    feed->endInput();
    runUntilIdle(io);
    server.close();
    pool.close();
    runUntilIdle(io);
  }
  runUntilIdle(io);
}

}  // namespace ambit::fuzz
