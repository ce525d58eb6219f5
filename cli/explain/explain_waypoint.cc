// The waypoint's part of an explanation, run by the waypoint's own code: path normalisation,
// RequestAuthentication, L7 AuthorizationPolicy, the Router (with its trace), and for every
// destination of the matched route its endpoints and the destination ztunnel's verdict.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "cli/explain/explain_context.h"
#include "common/async/spawn.h"
#include "common/rbac/path_normalize.h"
#include "waypoint/request_authn.h"
#include "waypoint/router.h"

namespace ambit::cli::explain {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

constexpr char kRemoteFetchFailed[] = "Jwks remote fetch is failed";

struct Authn {
  std::string principal;  // "<iss>/<sub>"; empty without a (checked) token
  rbac::Claims claims;
  bool rejected = false;
};

// What the waypoint would check its policies against (HttpProxy::policyTarget).
rbac::Target policyTarget(const v1::Service& svc, const v1::Waypoint& wp) {
  rbac::Target t;
  t.ns = svc.namespace_();
  t.service = svc.name();
  if (wp.namespace_() == svc.namespace_()) t.gateway = wp.name();
  t.gateway_class = wp.gateway_class();
  return t;
}

waypoint::HttpRequest buildRequest(const Context& ctx) {
  waypoint::HttpRequest req{http::string_to_verb(ctx.request.method), ctx.request.path, 11};
  if (req.method() == http::verb::unknown) req.method_string(ctx.request.method);
  req.set(http::field::host, ctx.authority);
  for (const auto& [k, v] : ctx.request.headers) req.insert(k, v);
  if (!ctx.request.jwt.empty()) req.set(http::field::authorization, "Bearer " + ctx.request.jwt);
  return req;
}

// The waypoint's RequestAuthenticator on the request, without a JwksCache: a rule with only a
// jwksUri has no keys (AuthnResult::unfetched_jwks_uri says so).
std::optional<waypoint::AuthnResult> runAuthenticator(const Context& ctx,
                                                      const rbac::Target& target) {
  waypoint::HttpRequest req = buildRequest(ctx);
  waypoint::RequestAuthenticator authenticator(nullptr);
  std::optional<waypoint::AuthnResult> result;
  asio::io_context io;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await authenticator.authenticate(ctx.index, target, req);
      },
      "explain: request authentication");
  io.run();
  return result;
}

// A token whose keys explain cannot have: its claims, unverified.
Authn unverified(const std::string& token) {
  Authn out;
  auto decoded = waypoint::jwt::decode(token);
  if (!decoded) return out;
  out.claims = waypoint::jwt::flattenClaims(decoded->payload);
  auto sub = out.claims.find("sub");
  out.principal = decoded->issuer + "/" +
                  (sub == out.claims.end() || sub->second.empty() ? "" : sub->second.front());
  return out;
}

Authn authenticate(Context& ctx, const rbac::Target& target) {
  const std::optional<waypoint::AuthnResult> result = runAuthenticator(ctx, target);
  Authn out;
  if (!result) {
    ctx.step("authn", "RequestAuthentication could not be evaluated");
    return out;
  }
  using Kind = waypoint::AuthnResult::Kind;
  const ObjectRef rule = parseObject(result->rule.substr(0, result->rule.find(" jwtRules")));
  const SourceLocation at =
      result->rule.empty() ? SourceLocation{} : ctx.locate(rule.kind, rule.ns, rule.name);
  if (result->kind == Kind::kNoToken) {
    ctx.step("authn", ctx.request.jwt.empty()
                          ? "no token sent: the request goes on unauthenticated"
                          : "no RequestAuthentication applies to this service: the "
                            "token is not validated and gives no request principal");
    return out;
  }
  if (result->kind == Kind::kAuthenticated) {
    out.principal = result->jwt->principal();
    out.claims = result->jwt->claims;
    ctx.step("authn", "token valid: request principal " + out.principal,
             {"validated by " + result->rule + " (inline jwks)"}, at);
    return out;
  }
  if (!result->unfetched_jwks_uri.empty()) {
    // The waypoint would fetch the keys; explain works from configuration alone.
    out = unverified(ctx.request.jwt);
    ctx.step(
        "authn", "signature not checked: remote JWKS (" + result->unfetched_jwks_uri + ")",
        {result->rule + " has no inline jwks; assuming the token verifies, request principal " +
             out.principal,
         "the waypoint answers 401 \"" + std::string(kRemoteFetchFailed) +
             "\" while it cannot fetch the keys"},
        at);
    return out;
  }
  out.rejected = true;
  ctx.out.verdict = Explanation::Verdict::kDeny;
  ctx.out.status = 401;
  ctx.out.reason = "JWT rejected: " + result->reason;
  ctx.out.decided_by = result->rule.empty() ? "" : result->rule;
  ctx.out.decided_at = at;
  ctx.step("authn", "token rejected: " + result->reason + " (401)",
           result->rule.empty() ? std::vector<std::string>{"no jwtRules entry names its issuer"}
                                : std::vector<std::string>{"checked by " + result->rule},
           at);
  return out;
}

// Returns false when the waypoint answers by itself (403).
bool authorize(Context& ctx, const rbac::Target& target, const std::string& path,
               const Authn& authn, const rbac::HeaderList& headers) {
  rbac::Attributes attrs;
  attrs.source_ip = rbac::IpAddress::parse(ctx.client_ip).value_or(rbac::IpAddress{});
  attrs.destination_ip = rbac::IpAddress::parse(ctx.dialled_ip).value_or(rbac::IpAddress{});
  attrs.destination_port = ctx.port;
  attrs.source_principal = ctx.client_principal;
  attrs.method = ctx.request.method;
  attrs.path = path;
  attrs.host = ctx.authority;
  attrs.headers = &headers;
  attrs.request_principal = authn.principal;
  if (!authn.principal.empty()) attrs.claims = &authn.claims;
  const rbac::Explanation trace = ctx.index->policies().explain(target, attrs, rbac::Mode::kL7);
  const rbac::Decision d = ctx.index->policies().evaluate(target, attrs, rbac::Mode::kL7);
  std::vector<std::string> lines = describePolicies(ctx, trace);
  const std::string_view deciding = decidingPolicy(trace);
  SourceLocation at;
  if (!deciding.empty()) {
    const ObjectRef ref = parseObject("AuthorizationPolicy " + std::string(deciding));
    at = ctx.locate(ref.kind, ref.ns, ref.name);
  }
  ctx.step("authz-l7",
           fmt::format("L7 authorization at the waypoint: {}", d.allowed ? "ALLOW" : "DENY"),
           std::move(lines), at);
  if (d.allowed) return true;
  ctx.out.verdict = Explanation::Verdict::kDeny;
  ctx.out.status = 403;
  std::string rule;
  for (const auto& p : trace.policies) {
    if (p.policy != d.policy) continue;
    for (size_t i = 0; i < p.rules.size() && rule.empty(); ++i) {
      if (p.rules[i].outcome == rbac::RuleTrace::Outcome::kMatched)
        rule = fmt::format(" rules[{}]", i);
    }
  }
  ctx.out.decided_by = deciding.empty() ? "" : "AuthorizationPolicy " + std::string(deciding);
  ctx.out.decided_at = at;
  ctx.out.reason = d.policy.empty()
                       ? std::string(d.reasonText()) + " (the ALLOW policies above apply)"
                       : fmt::format("{} {}{}", d.reasonText(), d.policy, rule);
  return false;
}

std::string criterionText(const waypoint::MatchMismatch& m, const v1::HttpMatch& match) {
  using C = waypoint::MatchMismatch::Criterion;
  switch (m.criterion) {
    case C::kNone:
      return "matched";
    case C::kUri:
      return "uri differs";
    case C::kPort:
      return fmt::format("port is not {}", match.port());
    case C::kMethod:
      return "method differs";
    case C::kHeader:
      return fmt::format("header {} does not match", match.headers(m.index).name());
    case C::kQueryParam:
      return fmt::format("query parameter {} does not match", match.query_params(m.index).name());
  }
  return "";
}

std::string routeLabel(const v1::HttpRoute& r, int i) {
  return r.name().empty() ? fmt::format("#{}", i) : fmt::format("#{} ({})", i, r.name());
}

void route(Context& ctx, const v1::Waypoint& wp, const std::string& normalized,
           const rbac::HeaderList& headers);

}  // namespace

void explainWaypoint(Context& ctx, const v1::Waypoint& wp) {
  const v1::Service& svc = *ctx.service;
  const rbac::Target target = policyTarget(svc, wp);
  auto normalized = rbac::normalizePath(ctx.request.path);
  if (!normalized) {
    ctx.out.verdict = Explanation::Verdict::kDeny;
    ctx.out.status = 400;
    ctx.out.reason = "bad request path: " + normalized.error().message;
    ctx.step("path", "the waypoint answers 400: " + normalized.error().message);
    return;
  }
  if (*normalized != ctx.request.path)
    ctx.step("path", "normalised to " + *normalized + " (what policies and routes see)");
  const Authn authn = authenticate(ctx, target);
  if (authn.rejected) return;
  rbac::HeaderList headers;
  for (const auto& [k, v] : ctx.request.headers) headers.add(k, v);
  if (!authorize(ctx, target, *normalized, authn, headers)) return;

  route(ctx, wp, *normalized, headers);
}

namespace {

// The waypoint's Router with its trace: every route tried and why, the one taken, and then
// where it sends the request.
void route(Context& ctx, const v1::Waypoint& wp, const std::string& normalized,
           const rbac::HeaderList& headers) {
  const v1::Service& svc = *ctx.service;
  waypoint::Router router([] { return 0u; });
  const std::string_view raw = ctx.request.path;
  const size_t q = raw.find('?');
  waypoint::RouteInput in{ctx.request.method, rbac::pathForMatch(normalized),
                          q == std::string_view::npos ? std::string_view{} : raw.substr(q + 1),
                          &headers, ctx.port};
  waypoint::RouteTrace trace;
  waypoint::RouteDecision d = router.route(*ctx.index, svc, in, &trace);
  if (trace.table == nullptr) {
    ctx.step("route", "no VirtualService or HTTPRoute for " + svc.hostname() +
                          ": every endpoint of the service");
    explainDestinations(ctx, wp, nullptr, svc);
    return;
  }
  const std::string kind =
      trace.table->origin_kind().empty() ? "VirtualService" : trace.table->origin_kind();
  std::vector<std::string> lines;
  for (const auto& r : trace.routes) {
    const v1::HttpRoute& hr = trace.table->http(r.index);
    const SourceLocation at = ctx.source.locateField(
        kind, trace.table->namespace_(), trace.table->name(),
        {"spec", kind == "HTTPRoute" ? "rules" : "http", std::to_string(r.index)});
    std::string why;
    if (hr.matches().empty()) why = "no match list: matches every request";
    for (size_t j = 0; j < r.matches.size(); ++j) {
      why += fmt::format("{}match[{}]: {}", why.empty() ? "" : "; ", j,
                         criterionText(r.matches[j], hr.matches(static_cast<int>(j))));
    }
    lines.push_back(fmt::format("route {}{}: {} ({})", routeLabel(hr, r.index),
                                at.line > 0 ? fmt::format(" (line {})", at.line) : "",
                                r.matched ? "MATCHED" : "not matched", why));
  }
  const SourceLocation table_at = ctx.locate(kind, trace.table->namespace_(), trace.table->name());
  if (d.route == nullptr) {
    ctx.out.verdict = Explanation::Verdict::kDeny;
    ctx.out.status = d.direct_status;
    ctx.out.reason = std::string(d.reason);
    ctx.step("route",
             fmt::format("{} {}/{}: no route matched ({})", kind, trace.table->namespace_(),
                         trace.table->name(), d.direct_status),
             std::move(lines), table_at);
    return;
  }
  const int matched = trace.routes.back().index;
  ctx.out.route = routeLabel(*d.route, matched);
  ctx.step("route",
           fmt::format("{} {}/{} route {}", kind, trace.table->namespace_(), trace.table->name(),
                       ctx.out.route),
           std::move(lines), table_at);
  if (d.route->has_redirect() || d.route->destinations().empty()) {
    ctx.out.status = d.route->has_redirect()
                         ? static_cast<int>(d.route->redirect().redirect_code()
                                                ? d.route->redirect().redirect_code()
                                                : 301)
                         : 503;
    ctx.out.reason =
        d.route->has_redirect() ? "redirected by the route" : "route has no destination";
    return;
  }
  if (d.route->has_fault() && d.route->fault().abort_status() > 0) {
    ctx.step("fault",
             fmt::format("the route aborts {}% of requests with {}",
                         d.route->fault().abort_percent(), d.route->fault().abort_status()));
  }
  explainDestinations(ctx, wp, d.route, svc);
}

}  // namespace
}  // namespace ambit::cli::explain
