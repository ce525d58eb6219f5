// HttpProxy::forward: endpoint choice, retries and timeouts for one routed request.
#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <initializer_list>
#include <string_view>

#include "common/config/endpoints.h"
#include "common/hbone/protocol.h"
#include "common/log.h"
#include "waypoint/http_proxy.h"
#include "waypoint/route_actions.h"

namespace ambit::waypoint {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// With no retry policy a request that could not be delivered (connect failure) is tried on up
// to two more endpoints, as Istio's default retry policy does.
constexpr uint32_t kDefaultRetries = 2;

// The retryOn conditions this proxy acts on (Envoy's names), as bits of RetryPlan::retry_on;
// others are accepted and ignored.
constexpr unsigned kConnectFailure = 1;
constexpr unsigned kGatewayError = 2;
constexpr unsigned k5xx = 4;
constexpr unsigned kRetriableStatusCodes = 8;
constexpr unsigned kReset = 16;

unsigned retryOnBit(std::string_view name) {
  if (name == "connect-failure") return kConnectFailure;
  if (name == "gateway-error") return kGatewayError;
  if (name == "5xx") return k5xx;
  if (name == "retriable-status-codes") return kRetriableStatusCodes;
  if (name == "reset") return kReset;
  return 0;
}

struct RetryPlan {
  uint32_t attempts = 1 + kDefaultRetries;
  milliseconds per_try{0};
  milliseconds total{0};
  unsigned retry_on = kConnectFailure;
};

RetryPlan planFor(const v1::HttpRoute* route) {
  RetryPlan plan;
  if (!route) return plan;
  plan.total = milliseconds(route->timeout_ms());
  if (route->has_retries()) {
    const auto& r = route->retries();
    plan.attempts = 1 + r.attempts();
    plan.per_try = milliseconds(r.per_try_timeout_ms());
    plan.retry_on = r.retry_on().empty() ? kConnectFailure | kGatewayError : 0;
    for (const auto& on : r.retry_on()) plan.retry_on |= retryOnBit(on);
  }
  return plan;
}

bool retriableStatus(const RetryPlan& plan, unsigned status) {
  if (status >= 500 && (plan.retry_on & k5xx)) return true;
  if ((status == 502 || status == 503 || status == 504) && (plan.retry_on & kGatewayError)) {
    return true;
  }
  return status == 503 && (plan.retry_on & kRetriableStatusCodes);
}

bool retriableError(const RetryPlan& plan, const Error& e) {
  if (e.code == ECONNREFUSED || e.code == EAGAIN) return plan.retry_on & kConnectFailure;
  if (e.code == ETIMEDOUT) return plan.retry_on & (k5xx | kGatewayError);
  return plan.retry_on & (kReset | k5xx);
}

// Drops every field named in `names`, in one pass over the message's fields: most messages
// carry none of them, and erase(name) is a lookup in the field index per name.
void eraseAll(http::fields& fields, std::initializer_list<http::field> names) {
  for (auto it = fields.begin(); it != fields.end();) {
    if (std::ranges::find(names, it->name()) != names.end()) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
}

// Makes the request what the endpoint gets, in place (no copy of its fields): hop-by-hop
// headers dropped, keep-alive upstream, the route's rewrite and header operations applied.
void prepareUpstream(HttpRequest& out, const RouteDecision& decision) {
  if (decision.route) {
    applyRewrite(*decision.route, decision.match, out);
    applyRequestHeaderOps(decision.route->headers(), out);
  }
  if (decision.destination) applyRequestHeaderOps(decision.destination->headers(), out);
  eraseAll(out, {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                 http::field::te, http::field::upgrade, http::field::transfer_encoding,
                 http::field::content_length});
  // HTTP/1.1 without a Connection field is keep-alive. The body is framed by its length as
  // Beast's prepare_payload() frames a request, without its lookups: Content-Length when there
  // is a body or the method defines one, none otherwise (a client's, or a route's header
  // operation's, would make the endpoint wait for a body). handle() refused a TRACE with a
  // body, which prepare_payload() throws on.
  out.version(11);
  const size_t n = out.body().size();
  const http::verb m = out.method();
  if (n > 0 || m == http::verb::options || m == http::verb::put || m == http::verb::post) {
    std::array<char, 20> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
    out.insert(http::field::content_length, std::string_view(digits.data(), end));
  }
}

// The response as the client gets it: hop-by-hop headers dropped, body framed by length.
void prepareDownstream(HttpResponse& r, bool head) {
  eraseAll(r, {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
               http::field::transfer_encoding, http::field::upgrade});
  const unsigned s = r.result_int();
  if (s == 204 || s == 304 || s < 200) return;
  if (!head) r.content_length(r.body().size());
}

// The time this try may take: the per-try timeout bounded by what is left of the route's
// timeout (0: unlimited); nullopt when the route's deadline has passed.
std::optional<milliseconds> tryTimeout(const RetryPlan& plan, Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return plan.per_try;
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return std::nullopt;
  return plan.per_try.count() == 0 || left < plan.per_try ? left : plan.per_try;
}

// The destination Service port (by its target port) declares HTTP/2.
bool speaksHttp2(const RouteDecision& d) {
  if (!d.service) return false;
  for (const auto& p : d.service->ports()) {
    if ((p.target_port() ? p.target_port() : p.port()) == d.target_port) {
      return isHttp2AppProtocol(p.app_protocol());
    }
  }
  return false;
}

std::optional<UpstreamTarget> targetFor(const v1::Workload& w, const MeshIndex& index,
                                        uint16_t hbone_port, const RouteDecision& d) {
  boost::system::error_code ec;
  // make_address tries IPv6 first, and that parser runs the IPv4 one inside for a dotted quad:
  // an address without ':' is parsed as IPv4 only.
  const std::string& text = w.addresses(0);
  const asio::ip::address ip = text.find(':') == std::string::npos
                                   ? asio::ip::address(asio::ip::make_address_v4(text, ec))
                                   : asio::ip::address(asio::ip::make_address_v6(text, ec));
  if (ec) return std::nullopt;
  const auto port = config::endpointPort(d.service_port, w, d.target_port);
  if (!port) return std::nullopt;
  return UpstreamTarget{asio::ip::tcp::endpoint(ip, hbone_port),
                        asio::ip::tcp::endpoint(ip, static_cast<uint16_t>(*port)),
                        index.spiffeId(w), speaksHttp2(d)};
}

}  // namespace

asio::awaitable<HttpResponse> HttpProxy::forward(Exchange& x, const RouteDecision& decision) {
  RequestRecord& rec = x.rec;
  const RetryPlan plan = planFor(decision.route);
  prepareUpstream(x.request, decision);
  const HttpRequest& request = x.request;
  const Clock::time_point deadline =
      plan.total.count() > 0 ? Clock::now() + plan.total : Clock::time_point::max();
  Error last{0, "no attempt made"};
  unsigned last_status = 0;
  HttpResponse last_response;
  for (uint32_t attempt = 0; attempt < plan.attempts; ++attempt) {
    if (attempt > 0) rec.response_flags = "URX";
    std::optional<milliseconds> timeout = tryTimeout(plan, deadline);
    if (!timeout) {
      last = Error{ETIMEDOUT, "route timeout"};
      last_status = 0;
      break;
    }
    const v1::Workload* w = decision.endpoints[attempt % decision.endpoints.size()];
    auto target = targetFor(*w, *rec.index, services_.endpoint_hbone_port, decision);
    if (!target) continue;
    rec.upstream = target->authority;
    rec.destination = w;
    auto result = co_await services_.upstream->exchange(*target, request, *timeout);
    if (decision.service) {
      services_.router->recordOutcome(*rec.index, *decision.service, *w,
                                      !result || result->response.result_int() >= 500);
    }
    if (!result) {
      last = result.error();
      last_status = 0;
      logDebug("waypoint: {} {} -> {}: {}", rec.method, rec.path,
               hbone::formatAuthority(*rec.upstream), last.message);
      if (!retriableError(plan, last)) break;
      continue;
    }
    last_status = result->response.result_int();
    last_response = std::move(result->response);
    if (!retriableStatus(plan, last_status) || attempt + 1 == plan.attempts) break;
  }
  if (last_status == 0) {
    rec.response_flags = last.code == ETIMEDOUT ? "UT" : "UF";
    if (last.code == ETIMEDOUT) co_return localReply(504, "upstream request timeout");
    co_return localReply(503, "upstream connect error or disconnect/reset before headers");
  }
  if (decision.route) applyResponseHeaderOps(decision.route->headers(), last_response);
  if (decision.destination) applyResponseHeaderOps(decision.destination->headers(), last_response);
  prepareDownstream(last_response, x.request.method() == http::verb::head);
  co_return last_response;
}

}  // namespace ambit::waypoint
