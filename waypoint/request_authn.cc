#include "waypoint/request_authn.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "common/rbac/string_match.h"
#include "waypoint/http_proxy.h"

namespace ambit::waypoint {
namespace {

constexpr char kRemoteFetchFailed[] = "Jwks remote fetch is failed";

// A place a token may be: a header (value after `prefix`) or a query parameter.
struct TokenLocation {
  std::string header;  // lower case; empty for a query parameter
  std::string prefix;
  std::string param;
};

struct CompiledRule {
  std::string owner;  // "RequestAuthentication ns/name"
  int index = 0;      // in the resource's jwtRules
  const v1::JwtRule* rule = nullptr;
  std::vector<TokenLocation> locations;
  std::shared_ptr<const jwt::Jwks> inline_jwks;
  std::string unusable;  // why the rule has no keys (inline JWKS error, no source); else empty
};

struct CompiledAuthn {
  std::string ns;
  std::vector<std::pair<std::string, std::string>> target_refs;  // kind, name
  std::vector<CompiledRule> rules;
};

std::vector<TokenLocation> locationsOf(const v1::JwtRule& r) {
  std::vector<TokenLocation> out;
  for (int i = 0; i < r.from_headers_size(); ++i) {
    std::string prefix = i < r.from_header_prefixes_size() ? r.from_header_prefixes(i) : "";
    out.push_back({rbac::toLowerAscii(r.from_headers(i)), std::move(prefix), ""});
  }
  for (const auto& p : r.from_params()) out.push_back({"", "", p});
  if (out.empty()) {  // Envoy's defaults when a provider names no location
    out.push_back({"authorization", "Bearer ", ""});
    out.push_back({"", "", "access_token"});
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> queryToken(const HttpRequest& request, const TokenLocation& at) {
  std::string_view target(request.target().data(), request.target().size());
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == at.param && eq + 1 < pair.size())
      return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// Every token at `at`: each field of a repeated header is a candidate (a forged second
// Authorization header must not slip past a first one without the prefix), a query parameter
// gives its first value.
void extract(const HttpRequest& request, const TokenLocation& at, std::vector<std::string>& out) {
  if (!at.header.empty()) {
    auto [first, last] =
        request.equal_range(boost::beast::string_view(at.header.data(), at.header.size()));
    for (auto it = first; it != last; ++it) {
      std::string_view v(it->value().data(), it->value().size());
      if (v.size() < at.prefix.size() ||
          !rbac::equalsIgnoreCase(v.substr(0, at.prefix.size()), at.prefix)) {
        continue;
      }
      v = trim(v.substr(at.prefix.size()));
      if (!v.empty()) out.emplace_back(v);
    }
    return;
  }
  if (auto v = queryToken(request, at)) out.push_back(std::move(*v));
}

bool applies(const CompiledAuthn& a, const rbac::Target& t, std::string_view root_ns) {
  for (const auto& [kind, name] : a.target_refs) {
    const bool same_ns = a.ns == t.ns;
    if ((kind == "Service" || kind == "ServiceEntry") && same_ns && !t.service.empty() &&
        name == t.service) {
      return true;
    }
    if (kind == "Gateway" && same_ns && !t.gateway.empty() && name == t.gateway) return true;
    if (kind == "GatewayClass" && a.ns == root_ns && !t.gateway_class.empty() &&
        name == t.gateway_class) {
      return true;
    }
  }
  return false;
}

CompiledRule compileRule(const v1::RequestAuthentication& ra, int i) {
  const v1::JwtRule& r = ra.jwt_rules(i);
  CompiledRule out;
  out.owner = fmt::format("RequestAuthentication {}/{}", ra.namespace_(), ra.name());
  out.index = i;
  out.rule = &r;
  out.locations = locationsOf(r);
  if (!r.jwks().empty()) {
    auto jwks = jwt::Jwks::parse(r.jwks());
    if (jwks) {
      out.inline_jwks = std::make_shared<const jwt::Jwks>(std::move(*jwks));
    } else {
      out.unusable = jwks.error().message;
    }
  } else if (r.jwks_uri().empty()) {
    out.unusable = kRemoteFetchFailed;
    logWarn(
        "{}: jwtRules[{}] (issuer {}) has neither jwks nor jwksUri (OpenID discovery is not "
        "supported): its tokens are rejected",
        out.owner, i, r.issuer());
  }
  if (!r.jwks().empty() && !out.inline_jwks) {
    logWarn("{}: jwtRules[{}] (issuer {}): bad jwks: {}: its tokens are rejected", out.owner, i,
            r.issuer(), out.unusable);
  }
  return out;
}

}  // namespace

struct RequestAuthenticator::Compiled {
  std::shared_ptr<const MeshIndex> index;  // the rules point into its snapshot
  std::string root_ns;
  std::vector<CompiledAuthn> authns;
};

RequestAuthenticator::RequestAuthenticator(JwksCache* remote, Clock clock)
    : remote_(remote), clock_(std::move(clock)) {}

RequestAuthenticator::~RequestAuthenticator() = default;

std::shared_ptr<const RequestAuthenticator::Compiled> RequestAuthenticator::compiled(
    const std::shared_ptr<const MeshIndex>& index) {
  if (compiled_ && compiled_->index == index) return compiled_;
  auto c = std::make_shared<Compiled>();
  c->index = index;
  c->root_ns = index->policies().rootNamespace();
  std::set<std::string> uris;
  for (const auto& ra : index->snapshot().request_authentications()) {
    CompiledAuthn a;
    a.ns = ra.namespace_();
    for (const auto& ref : ra.target_refs()) {
      const size_t slash = ref.find('/');
      if (slash != std::string::npos)
        a.target_refs.emplace_back(ref.substr(0, slash), ref.substr(slash + 1));
    }
    for (int i = 0; i < ra.jwt_rules_size(); ++i) {
      a.rules.push_back(compileRule(ra, i));
      if (ra.jwt_rules(i).jwks().empty() && !ra.jwt_rules(i).jwks_uri().empty())
        uris.insert(ra.jwt_rules(i).jwks_uri());
    }
    c->authns.push_back(std::move(a));
  }
  if (remote_) remote_->retainOnly(uris);
  compiled_ = std::move(c);
  return compiled_;
}

bool RequestAuthenticator::anyApplies(const std::shared_ptr<const MeshIndex>& index,
                                      const rbac::Target& target) {
  const std::shared_ptr<const Compiled> c = compiled(index);
  return std::ranges::any_of(
      c->authns, [&](const CompiledAuthn& a) { return applies(a, target, c->root_ns); });
}

asio::awaitable<AuthnResult> RequestAuthenticator::authenticate(
    const std::shared_ptr<const MeshIndex>& index, const rbac::Target& target,
    HttpRequest& request) {
  const std::shared_ptr<const Compiled> c = compiled(index);
  std::vector<const CompiledRule*> rules;
  for (const auto& a : c->authns) {
    if (!applies(a, target, c->root_ns)) continue;
    for (const auto& r : a.rules) rules.push_back(&r);
  }
  // Every token the applicable rules' locations carry (each location once).
  std::vector<std::string> tokens;
  std::set<std::pair<std::string, std::string>> seen;  // header/param, prefix
  std::set<std::string> token_headers;
  for (const CompiledRule* r : rules) {
    for (const auto& at : r->locations) {
      if (!seen.insert({at.header.empty() ? "?" + at.param : at.header, at.prefix}).second)
        continue;
      const size_t before = tokens.size();
      extract(request, at, tokens);
      if (tokens.size() > before && !at.header.empty()) token_headers.insert(at.header);
    }
  }
  if (tokens.empty()) co_return AuthnResult{};
  const auto ruleName = [](const CompiledRule* r) {
    return r ? fmt::format("{} jwtRules[{}]", r->owner, r->index) : std::string();
  };
  const auto reject = [&](std::string reason, const CompiledRule* tried, std::string uri) {
    return AuthnResult{AuthnResult::Kind::kRejected, std::nullopt, std::move(reason),
                       ruleName(tried), std::move(uri)};
  };
  // All of them must verify (Envoy's behaviour): one bad token rejects the request.
  std::optional<jwt::VerifiedJwt> accepted;
  const CompiledRule* accepting = nullptr;
  for (const std::string& token : tokens) {
    auto decoded = jwt::decode(token);
    if (!decoded) co_return reject(decoded.error().message, nullptr, {});
    std::string reason = "Jwt issuer is not configured";
    std::optional<jwt::VerifiedJwt> ok;
    const CompiledRule* by = nullptr;
    const CompiledRule* tried = nullptr;
    std::string unfetched;
    for (const CompiledRule* r : rules) {
      if (r->rule->issuer() != decoded->issuer) continue;
      tried = r;
      unfetched.clear();
      std::shared_ptr<const jwt::Jwks> keys = r->inline_jwks;
      if (!keys && r->unusable.empty() && remote_)
        keys = co_await remote_->get(r->rule->jwks_uri(), r->owner);
      if (!keys) {
        reason = r->unusable.empty() ? kRemoteFetchFailed : r->unusable;
        if (r->unusable.empty()) unfetched = r->rule->jwks_uri();
        continue;
      }
      jwt::JwtRequirements req{r->rule->issuer(),
                               {r->rule->audiences().begin(), r->rule->audiences().end()}};
      auto verified = jwt::verify(*decoded, req, *keys, clock_());
      if (!verified) {
        reason = verified.error().message;
        continue;
      }
      ok = std::move(*verified);
      by = r;
      break;
    }
    if (!ok) co_return reject(std::move(reason), tried, std::move(unfetched));
    if (!accepted) {
      accepted = std::move(ok);
      accepting = by;
    }
  }
  if (!accepting->rule->forward_original_token()) {
    for (const auto& h : token_headers)
      request.erase(boost::beast::string_view(h.data(), h.size()));
  }
  if (!accepting->rule->output_payload_to_header().empty())
    request.set(accepting->rule->output_payload_to_header(), accepted->payload_base64url);
  co_return AuthnResult{
      AuthnResult::Kind::kAuthenticated, std::move(*accepted), {}, ruleName(accepting), {}};
}

HttpResponse unauthorizedReply(const HttpRequest& request, const std::string& reason) {
  HttpResponse r = localReply(401, reason, request.version());
  std::string_view target(request.target().data(), request.target().size());
  std::string_view host(request[http::field::host].data(), request[http::field::host].size());
  r.set(http::field::www_authenticate,
        fmt::format("Bearer realm=\"http://{}{}\", error=\"invalid_token\"", host,
                    target.substr(0, target.find('?'))));
  return r;
}

}  // namespace ambit::waypoint
