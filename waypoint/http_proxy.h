#pragma once
// HttpProxy: the waypoint's L7 data path. For each HBONE tunnel a client ztunnel opens to a
// service (:authority = VIP:port) it reads HTTP/1.1 requests (keep-alive, pipelining) or, when
// the tunnel starts with the HTTP/2 connection preface or the Service port's appProtocol says
// HTTP/2 (http2, grpc, h2c, kubernetes.io/h2c), serves cleartext HTTP/2 (H2cConnection: streams
// are handled concurrently, each as one request), and for each request: normalises the path,
// checks RequestAuthentication (an invalid JWT -> 401; see request_authn.h), applies the L7
// AuthorizationPolicies that target the service or the waypoint's Gateway (deny -> 403 "RBAC:
// access denied"), routes it (Router), applies fault injection, forwards it to an endpoint over
// a new or reused HBONE tunnel with the route's timeout and retries (as HTTP/2 when the
// destination port declares it, else as HTTP/1.1), and relays the response. Every request ends
// in one RequestRecord for metrics and the access log. The pipeline (handle()) is the same for
// both protocols.
//
// Thread model: one HttpProxy per data thread; tunnels and their requests run as coroutines
// on that thread's executor.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/hbone/server.h"
#include "waypoint/h2c_connection.h"
#include "waypoint/http_codec.h"
#include "waypoint/mesh_index.h"
#include "waypoint/request_authn.h"
#include "waypoint/router.h"
#include "waypoint/upstream.h"

namespace ambit::waypoint {

// The Gateway this waypoint implements (AuthorizationPolicy targetRefs may name it).
struct WaypointGateway {
  std::string ns = "default";
  std::string name = "waypoint";
  std::string gateway_class = "istio-waypoint";
};

// What one request did. The pointers are into `index`, which the record keeps alive.
struct RequestRecord {
  std::shared_ptr<const MeshIndex> index;
  std::string source_principal;
  asio::ip::address source_ip;  // the client (from `forwarded`), not its ztunnel
  const v1::Workload* source = nullptr;
  const v1::Service* service = nullptr;       // destination service
  const v1::Workload* destination = nullptr;  // endpoint that answered
  std::string protocol = "HTTP/1.1";          // downstream: HTTP/1.1 or HTTP/2
  bool grpc = false;                          // content-type application/grpc*
  std::string method;
  std::string path;
  std::string host;
  std::string route;                                // route name, "-" when none
  std::optional<asio::ip::tcp::endpoint> upstream;  // the endpoint tried last; none: not forwarded
  unsigned status = 0;
  std::string response_flags = "-";  // Envoy's: NR, UH, UF, UT, URX, FI, DI, DC, "-"
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  std::chrono::steady_clock::time_point start;
  std::chrono::system_clock::time_point wall_start;
  std::chrono::microseconds duration{0};
  std::string user_agent;        // the User-Agent header, for the access log
  std::string request_id;        // the x-request-id header, for the access log
  std::string authz = "-";       // allow | deny (AuthorizationPolicy) | unauthenticated (JWT); "-"
                                 // when the request ended before the check
  std::string policy;            // the deciding AuthorizationPolicy, ns/name
  std::string authz_reason;      // why denied: the policy engine's phrase or the JWT error
  std::string trace_id;          // the request's trace
  std::string span_id;           // the waypoint's SERVER span (the upstream span's parent)
  std::string parent_span_id;    // the caller's span; empty when the waypoint started the trace
  bool sampled = true;           // the caller's sampling decision (W3C flags, B3 sampled)
  std::string upstream_span_id;  // the CLIENT span: the parent the endpoint sees
  bool forwarded = false;        // an upstream exchange was attempted (the CLIENT span exists)
  std::chrono::system_clock::time_point upstream_wall_start;
  std::chrono::microseconds upstream_duration{0};  // every try, retries included
};

struct ProxyServices {
  std::function<std::shared_ptr<const MeshIndex>()> index;  // current config
  Router* router = nullptr;
  UpstreamPool* upstream = nullptr;
  WaypointGateway gateway;
  HttpLimits limits;
  uint16_t endpoint_hbone_port = 15008;   // where endpoints' ztunnels accept HBONE (tests: other)
  RequestAuthenticator* authn = nullptr;  // RequestAuthentication (JWT); null: not checked
  // Downstream HTTP/2 connections with no frame for this long end (H2cOptions::idle_timeout).
  std::chrono::milliseconds http2_idle_timeout{std::chrono::minutes(5)};
  // ... and one whose header block is incomplete this long (H2cOptions::header_timeout).
  std::chrono::milliseconds http2_header_timeout{std::chrono::seconds(10)};
  std::function<void(const RequestRecord&)> on_request;
};

class HttpProxy {
 public:
  explicit HttpProxy(ProxyServices services) : services_(std::move(services)) {}

  // Serves every request on one terminated tunnel until either side ends it.
  asio::awaitable<void> serveTunnel(hbone::ConnectRequest tunnel, hbone::HboneStream stream);
  // Sends GOAWAY on every HTTP/2 connection (draining): open streams finish, no new ones start.
  void drain();

 private:
  // One request on a tunnel, while it is handled.
  struct Exchange {
    const hbone::ConnectRequest& tunnel;
    HttpRequest& request;  // forwarding turns it into the endpoint's request (rewrites applied)
    RequestRecord rec;
    asio::ip::address source_ip;  // the client (from `forwarded`), not its ztunnel
    std::string normalized_path;  // the path as policies and routes see it (admit())
  };
  // The pipeline: answers `x` into `response`, from the waypoint itself or from the upstream.
  asio::awaitable<void> handle(Exchange& x, HttpResponse& response);
  // Its steps. admit(): records the request, then the checks that never wait (configuration,
  // service, path) and, when no JWT rule applies, authorization. authenticate(): the JWT rules,
  // then authorization. route(): the route and its destination. readyToForward(): a redirect, or
  // a destination without endpoints. Each step that answers fills `response` and returns
  // kReplied / false.
  enum class Admission { kReplied, kAuthenticate, kAuthorized };
  Admission admit(Exchange& x, HttpResponse& response) const;
  asio::awaitable<bool> authenticate(Exchange& x, HttpResponse& response);
  bool route(Exchange& x, RouteDecision& decision, HttpResponse& response) const;
  bool readyToForward(Exchange& x, const RouteDecision& decision, HttpResponse& response) const;
  asio::awaitable<void> serveHttp1(const hbone::ConnectRequest& tunnel, hbone::HboneStream& stream,
                                   const asio::ip::address& source, std::string_view sniffed);
  asio::awaitable<void> serveHttp2(std::shared_ptr<const hbone::ConnectRequest> tunnel,
                                   hbone::HboneStream stream, asio::ip::address source,
                                   std::string sniffed);
  asio::awaitable<void> serveHttp2Stream(std::shared_ptr<const hbone::ConnectRequest> tunnel,
                                         asio::ip::address source,
                                         std::shared_ptr<H2cConnection> connection,
                                         std::shared_ptr<H2cConnection::Stream> stream);
  bool declaresHttp2(const hbone::ConnectRequest& tunnel) const;
  void startRecord(RequestRecord& rec, const hbone::ConnectRequest& tunnel,
                   const asio::ip::address& source) const;
  rbac::Target policyTarget(const v1::Service& service) const;
  bool authorized(Exchange& x, const jwt::VerifiedJwt* jwt) const;
  // A route's fault: waits its delay; true when it aborts (the abort's reply is in `response`).
  asio::awaitable<bool> injectFault(const v1::HttpRoute& route, RequestRecord& rec,
                                    HttpResponse& response);
  asio::awaitable<HttpResponse> forward(Exchange& x, const RouteDecision& decision);
  void finish(RequestRecord& rec) const;

  ProxyServices services_;
  std::vector<std::weak_ptr<H2cConnection>> h2_connections_;  // downstream, for drain()
  bool draining_ = false;
};

// A response generated by the waypoint itself (Envoy's "local reply").
HttpResponse localReply(unsigned status, std::string body, unsigned http_version = 11);

}  // namespace ambit::waypoint
