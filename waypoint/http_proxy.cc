#include "waypoint/http_proxy.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <forward_list>
#include <utility>

#include "common/async/spawn.h"
#include "common/hbone/protocol.h"
#include "common/log.h"
#include "common/rbac/path_normalize.h"
#include "waypoint/route_actions.h"
#include "waypoint/tracing.h"

namespace ambit::waypoint {
namespace {

// Request headers as the policy engine sees them: duplicates joined with ','.
class FieldHeaders final : public rbac::HeaderSource {
 public:
  explicit FieldHeaders(const http::fields& fields) : fields_(fields) {}
  std::optional<std::string_view> get(std::string_view lower_name) const override {
    auto [first, last] =
        fields_.equal_range(boost::beast::string_view(lower_name.data(), lower_name.size()));
    if (first == last) return std::nullopt;
    if (std::next(first) == last)
      return std::string_view(first->value().data(), first->value().size());
    std::string joined;
    for (auto it = first; it != last; ++it) {
      if (!joined.empty()) joined += ',';
      joined.append(it->value().data(), it->value().size());
    }
    return joined_.emplace_front(std::move(joined));
  }

 private:
  const http::fields& fields_;
  mutable std::forward_list<std::string> joined_;  // stable; allocates nothing while empty
};

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

rbac::IpAddress toRbacIp(const asio::ip::address& a) {
  return a.is_v4() ? rbac::IpAddress::v4(a.to_v4().to_uint())
                   : rbac::IpAddress::v6(a.to_v6().to_bytes());
}

// Reads the start of a tunnel until it either is the HTTP/2 connection preface (true) or
// cannot be (false); returns the bytes read, which belong to whichever protocol it is.
asio::awaitable<Result<std::pair<bool, std::string>>> sniffPreface(hbone::HboneStream& stream) {
  std::string got;
  char buf[kH2Preface.size()];
  while (got.size() < kH2Preface.size()) {
    auto n = co_await stream.read(asio::buffer(buf, kH2Preface.size() - got.size()));
    if (!n) co_return n.error();
    if (*n == 0) break;
    got.append(buf, *n);
    if (!kH2Preface.starts_with(got)) co_return std::make_pair(false, std::move(got));
  }
  co_return std::make_pair(got == kH2Preface, std::move(got));
}

unsigned statusForReadError(const Error& e) {
  if (e.code == EMSGSIZE) return e.message.find("body") != std::string::npos ? 413 : 431;
  return 400;
}

// The request's Host, User-Agent and x-request-id (the first of each, as operator[] finds them)
// into the record, in one pass over the fields: a lookup by name each costs more.
void recordRequestFields(const HttpRequest& request, RequestRecord& rec) {
  bool host = false, user_agent = false, request_id = false;
  for (const auto& f : request) {
    if (f.name() == http::field::host) {
      if (!std::exchange(host, true)) rec.host = std::string(view(f.value()));
    } else if (f.name() == http::field::user_agent) {
      if (!std::exchange(user_agent, true)) rec.user_agent = std::string(view(f.value()));
    } else if (f.name() == http::field::unknown && !request_id &&
               boost::beast::iequals(f.name_string(), "x-request-id")) {
      request_id = true;
      rec.request_id = std::string(view(f.value()));
    }
    if (host && user_agent && request_id) break;
  }
}

}  // namespace

HttpResponse localReply(unsigned status, std::string body, unsigned http_version) {
  HttpResponse r{static_cast<http::status>(status), http_version};
  r.set(http::field::content_type, "text/plain");
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

void HttpProxy::finish(RequestRecord& rec) const {
  rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - rec.start);
  if (services_.on_request) services_.on_request(rec);
}

void HttpProxy::startRecord(RequestRecord& rec, const hbone::ConnectRequest& tunnel,
                            const asio::ip::address& source) const {
  rec.start = std::chrono::steady_clock::now();
  rec.wall_start = std::chrono::system_clock::now();
  rec.source_ip = source;
  rec.source_principal = tunnel.peer_identity;
}

bool HttpProxy::declaresHttp2(const hbone::ConnectRequest& tunnel) const {
  auto index = services_.index ? services_.index() : nullptr;
  const v1::Service* svc = index ? index->serviceByVip(tunnel.target.address()) : nullptr;
  if (!svc) return false;
  for (const auto& p : svc->ports()) {
    if (p.port() == tunnel.target.port()) return isHttp2AppProtocol(p.app_protocol());
  }
  return false;
}

asio::awaitable<void> HttpProxy::serveTunnel(hbone::ConnectRequest tunnel,
                                             hbone::HboneStream stream) {
  asio::ip::address source = tunnel.peer_address.address();
  if (const std::string* fwd = hbone::findHeader(tunnel.headers, "forwarded")) {
    if (auto ip = hbone::parseForwardedFor(*fwd)) source = *ip;
  }
  std::string sniffed;
  bool h2 = declaresHttp2(tunnel);
  if (!h2) {
    auto prefix = co_await sniffPreface(stream);
    if (!prefix) co_return co_await endTunnel(stream);
    h2 = prefix->first;
    sniffed = std::move(prefix->second);
  }
  if (h2) {
    co_await serveHttp2(std::make_shared<const hbone::ConnectRequest>(std::move(tunnel)),
                        std::move(stream), source, std::move(sniffed));
    co_return;
  }
  co_await serveHttp1(tunnel, stream, source, sniffed);
  co_await endTunnel(stream);
}

asio::awaitable<void> HttpProxy::serveHttp1(const hbone::ConnectRequest& tunnel,
                                            hbone::HboneStream& stream,
                                            const asio::ip::address& source,
                                            std::string_view sniffed) {
  MessageReader reader(stream, services_.limits);
  reader.prime(sniffed);
  for (;;) {
    const uint64_t before = reader.bytesRead();
    auto request = co_await reader.readRequest();
    if (request && !*request) break;  // the client half-closed between requests
    HttpRequest none;
    Exchange x{tunnel, request && *request ? **request : none, {}, source};
    startRecord(x.rec, tunnel, source);
    HttpResponse response;
    bool keep_alive = false;
    if (!request) {
      if (request.error().code != EBADMSG && request.error().code != EMSGSIZE) break;
      logDebug("waypoint: bad request from {}: {}", x.rec.source_ip.to_string(),
               request.error().message);
      response = localReply(statusForReadError(request.error()), "bad request");
    } else {
      keep_alive = x.request.keep_alive();
      const unsigned version = x.request.version();  // handle() forwards it as HTTP/1.1
      co_await handle(x, response);
      response.version(version);
    }
    response.keep_alive(keep_alive);
    x.rec.request_bytes = reader.bytesRead() - before;
    x.rec.status = response.result_int();
    auto written = co_await writeMessage(stream, response);
    x.rec.response_bytes = written ? *written : 0;
    finish(x.rec);
    if (!written || !keep_alive) break;
  }
}

asio::awaitable<void> HttpProxy::serveHttp2(std::shared_ptr<const hbone::ConnectRequest> tunnel,
                                            hbone::HboneStream stream, asio::ip::address source,
                                            std::string sniffed) {
  auto ex = co_await asio::this_coro::executor;
  H2cOptions options;
  options.limits = services_.limits;
  options.idle_timeout = services_.http2_idle_timeout;
  options.header_timeout = services_.http2_header_timeout;
  auto connection = std::make_shared<H2cConnection>(
      std::move(stream), http2::Role::kServer, options,
      [this, ex, tunnel, source](std::shared_ptr<H2cConnection> c,
                                 std::shared_ptr<H2cConnection::Stream> st) {
        spawn(ex, serveHttp2Stream(tunnel, source, std::move(c), std::move(st)),
              "waypoint HTTP/2 request");
      },
      ex);
  std::erase_if(h2_connections_, [](const auto& w) { return w.expired(); });
  h2_connections_.push_back(connection);
  if (draining_) connection->shutdown();
  if (Status st = connection->start(); !st) {
    logWarn("waypoint: HTTP/2 in tunnel: {}", st.message());
    co_return;
  }
  co_await connection->run(std::move(sniffed));
}

asio::awaitable<void> HttpProxy::serveHttp2Stream(
    std::shared_ptr<const hbone::ConnectRequest> tunnel, asio::ip::address source,
    std::shared_ptr<H2cConnection> connection, std::shared_ptr<H2cConnection::Stream> st) {
  HttpRequest request = toHttpRequest(*st);
  Exchange x{*tunnel, request, {}, source};
  startRecord(x.rec, *tunnel, source);
  x.rec.protocol = "HTTP/2";
  x.rec.grpc = view(request[http::field::content_type]).starts_with("application/grpc");
  HttpResponse response;
  if (st->header_overflow || st->body_overflow) {
    x.rec.method = st->method;
    x.rec.path = st->path;
    logDebug("waypoint: HTTP/2 request from {} over the {} limit", x.rec.source_ip.to_string(),
             st->header_overflow ? "header list" : "body");
    response = localReply(st->header_overflow ? 431 : 413, "bad request");
  } else {
    co_await handle(x, response);
  }
  x.rec.request_bytes = st->wire_bytes;
  x.rec.status = response.result_int();
  Status sent = connection->respond(*st, response, request.method() == http::verb::head);
  if (!sent) {
    x.rec.response_flags = "DC";  // Envoy's: downstream connection termination
    logDebug("waypoint: HTTP/2 response not sent: {}", sent.error().message);
  }
  x.rec.response_bytes = sent ? response.body().size() : 0;
  for (const auto& f : response.base())
    x.rec.response_bytes += f.name_string().size() + f.value().size();
  finish(x.rec);
}

void HttpProxy::drain() {
  draining_ = true;
  for (auto& w : h2_connections_) {
    if (auto c = w.lock()) c->shutdown();
  }
  h2_connections_.clear();
}

rbac::Target HttpProxy::policyTarget(const v1::Service& svc) const {
  rbac::Target target;
  target.ns = svc.namespace_();
  target.service = svc.name();
  target.gateway = services_.gateway.name;
  target.gateway_class = services_.gateway.gateway_class;
  if (target.ns != services_.gateway.ns) target.gateway = {};
  return target;
}

bool HttpProxy::authorized(Exchange& x, const jwt::VerifiedJwt* jwt) const {
  const rbac::Target target = policyTarget(*x.rec.service);
  const std::string request_principal = jwt ? jwt->principal() : std::string();
  FieldHeaders headers(x.request.base());
  rbac::Attributes attrs;
  attrs.source_ip = toRbacIp(x.source_ip);
  attrs.destination_ip = toRbacIp(x.tunnel.target.address());
  attrs.destination_port = x.tunnel.target.port();
  attrs.source_principal = x.tunnel.peer_identity;
  attrs.method = view(x.request.method_string());
  attrs.path = x.normalized_path;
  attrs.host = x.rec.host;  // the request's Host field (admit())
  attrs.headers = &headers;
  attrs.request_principal = request_principal;
  if (jwt) attrs.claims = &jwt->claims;
  rbac::Decision d = x.rec.index->policies().evaluate(target, attrs, rbac::Mode::kL7);
  x.rec.authz = d.allowed ? "allow" : "deny";
  x.rec.policy = std::string(d.policy);
  if (!d.allowed) x.rec.authz_reason = std::string(d.reasonText());
  if (!d.allowed) {
    logDebug("waypoint: {} {} {} denied: {} {}", x.tunnel.peer_identity, x.rec.method, x.rec.path,
             d.reasonText(), d.policy);
  }
  return d.allowed;
}

asio::awaitable<bool> HttpProxy::injectFault(const v1::HttpRoute& route, RequestRecord& rec,
                                             HttpResponse& response) {
  const v1::FaultInjection& f = route.fault();
  if (f.delay_ms() > 0 && services_.router->chance(f.delay_percent())) {
    asio::steady_timer t(co_await asio::this_coro::executor,
                         std::chrono::milliseconds(f.delay_ms()));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    rec.response_flags = "DI";
  }
  if (f.abort_status() > 0 && services_.router->chance(f.abort_percent())) {
    rec.response_flags = "FI";
    response = localReply(f.abort_status(), "fault filter abort");
    co_return true;
  }
  co_return false;
}

// The request's pipeline. Only the steps that can wait are coroutines (JWT keys, a fault's delay,
// the upstream); the rest are plain functions. GCC gives every local and temporary of a coroutine
// its own slot in the frame, and a frame over Asio's 1,020-byte cache limit costs a malloc and a
// free per request (BENCHMARKS.md, session 20).
asio::awaitable<void> HttpProxy::handle(Exchange& x, HttpResponse& response) {
  switch (admit(x, response)) {
    case Admission::kReplied:
      co_return;
    case Admission::kAuthenticate:
      if (!co_await authenticate(x, response)) co_return;
      break;
    case Admission::kAuthorized:
      break;
  }
  RouteDecision decision;
  if (!route(x, decision, response)) co_return;
  if (decision.route && decision.route->has_fault() &&
      co_await injectFault(*decision.route, x.rec, response)) {
    co_return;
  }
  if (!readyToForward(x, decision, response)) co_return;
  const auto upstream_start = std::chrono::steady_clock::now();
  response = co_await forward(x, decision);
  x.rec.upstream_duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - upstream_start);
}

HttpProxy::Admission HttpProxy::admit(Exchange& x, HttpResponse& response) const {
  RequestRecord& rec = x.rec;
  rec.index = services_.index ? services_.index() : nullptr;
  rec.method = std::string(view(x.request.method_string()));
  rec.path = std::string(view(x.request.target()));
  recordRequestFields(x.request, rec);
  TraceContext trace = extractTrace(x.request).value_or(newTrace());
  rec.trace_id = std::move(trace.trace_id);
  rec.parent_span_id = std::move(trace.parent_span_id);
  rec.sampled = trace.sampled;
  rec.span_id = newSpanId();
  rec.upstream_span_id = newSpanId();
  injectTrace(x.request, rec.trace_id, rec.sampled, rec.span_id, rec.upstream_span_id);
  if (!rec.index) {
    response = localReply(503, "no configuration yet");
    return Admission::kReplied;
  }
  // RFC 9110 §9.3.8: a client must not send content with TRACE (Beast's framing refuses it).
  if (x.request.method() == http::verb::trace && !x.request.body().empty()) {
    response = localReply(400, "TRACE request with a body");
    return Admission::kReplied;
  }
  rec.source = rec.index->workloadByIp(x.source_ip);
  rec.service = rec.index->serviceByVip(x.tunnel.target.address());
  if (!rec.service) {
    rec.response_flags = "NR";
    response = localReply(404, "no service for " + x.tunnel.authority);
    return Admission::kReplied;
  }
  auto normalized = rbac::normalizePath(rec.path);
  if (!normalized) {
    response = localReply(400, "bad request path");
    return Admission::kReplied;
  }
  x.normalized_path = std::move(*normalized);
  if (services_.authn && services_.authn->anyApplies(rec.index, policyTarget(*rec.service))) {
    return Admission::kAuthenticate;
  }
  if (!authorized(x, nullptr)) {
    response = localReply(403, "RBAC: access denied");
    return Admission::kReplied;
  }
  return Admission::kAuthorized;
}

asio::awaitable<bool> HttpProxy::authenticate(Exchange& x, HttpResponse& response) {
  RequestRecord& rec = x.rec;
  const AuthnResult authn =
      co_await services_.authn->authenticate(rec.index, policyTarget(*rec.service), x.request);
  if (authn.rejected()) {
    rec.authz = "unauthenticated";
    rec.authz_reason = authn.reason;
    logDebug("waypoint: {} {} {}: JWT rejected: {}", x.tunnel.peer_identity, rec.method, rec.path,
             authn.reason);
    response = unauthorizedReply(x.request, authn.reason);
    co_return false;
  }
  if (!authorized(x, authn.jwt ? &*authn.jwt : nullptr)) {
    response = localReply(403, "RBAC: access denied");
    co_return false;
  }
  co_return true;
}

bool HttpProxy::route(Exchange& x, RouteDecision& decision, HttpResponse& response) const {
  RequestRecord& rec = x.rec;
  std::string_view target = rec.path;
  size_t q = target.find('?');
  FieldHeaders headers(x.request.base());
  RouteInput in{view(x.request.method_string()), rbac::pathForMatch(x.normalized_path),
                q == std::string_view::npos ? std::string_view{} : target.substr(q + 1), &headers,
                x.tunnel.target.port()};
  decision = services_.router->route(*rec.index, *rec.service, in);
  rec.route = decision.route && !decision.route->name().empty() ? decision.route->name() : "-";
  if (decision.direct_status) {
    rec.response_flags = decision.direct_status == 404 ? "NR" : "UH";
    response =
        localReply(static_cast<unsigned>(decision.direct_status), std::string(decision.reason));
    return false;
  }
  return true;
}

bool HttpProxy::readyToForward(Exchange& x, const RouteDecision& decision,
                               HttpResponse& response) const {
  if (decision.route) {
    if (auto redirect = redirectFor(*decision.route, x.request)) {
      response = std::move(*redirect);
      return false;
    }
  }
  if (decision.endpoints.empty()) {
    response = localReply(503, "route has no destination");
    return false;
  }
  x.rec.forwarded = true;
  x.rec.upstream_wall_start = std::chrono::system_clock::now();
  return true;
}

}  // namespace ambit::waypoint
