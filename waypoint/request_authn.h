#pragma once
// RequestAuthentication in the waypoint, with Istio's semantics:
//  - Which resources apply: those whose targetRefs name the request's Service (or
//    ServiceEntry) or the waypoint's Gateway in the service's namespace, or the waypoint's
//    GatewayClass from the root namespace -- the same targeting as L7 AuthorizationPolicy
//    (rbac::Target). Selector-only resources are for workloads, not waypoints.
//  - Where the token is: each rule's fromHeaders (with prefix) and fromParams; a rule with
//    neither uses Envoy's defaults, `Authorization: Bearer <token>` and `?access_token=`. The
//    first location holding a token (rules in order) is the request's token.
//  - No token: the request passes unauthenticated (no request principal); AuthorizationPolicy
//    decides. A token that is malformed, whose issuer no rule names, or that fails every rule
//    of its issuer: 401 with Envoy's reason as the body and
//    `www-authenticate: Bearer realm="<url>", error="invalid_token"`.
//  - A valid token gives the request principal "<iss>/<sub>" and the claims; unless the rule
//    says forwardOriginalToken its header is removed before forwarding; outputPayloadToHeader
//    receives the payload (base64url).
//  - Keys: the rule's inline jwks, else its jwksUri through JwksCache; a rule without usable
//    keys rejects its issuer's tokens (fail closed) and says why in the log.
//
// Thread model: one RequestAuthenticator per data thread (it caches per-configuration state
// and uses the JwksCache of that thread).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/rbac/attributes.h"
#include "waypoint/http_codec.h"
#include "waypoint/jwks_cache.h"
#include "waypoint/jwt.h"
#include "waypoint/mesh_index.h"

namespace ambit::waypoint {

struct AuthnResult {
  enum class Kind { kNoToken, kAuthenticated, kRejected };
  Kind kind = Kind::kNoToken;
  std::optional<jwt::VerifiedJwt> jwt;  // kAuthenticated
  std::string reason;                   // kRejected: Envoy's reason, e.g. "Jwt is expired"
  // The rule that accepted the token ("RequestAuthentication ns/name jwtRules[i]"), or, when
  // rejected, the last rule of the token's issuer that was tried (empty: none names it).
  std::string rule;
  // Rejected only because this jwksUri has no keys (not fetched yet, or no JwksCache).
  std::string unfetched_jwks_uri;

  bool rejected() const { return kind == Kind::kRejected; }
};

class RequestAuthenticator {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // `remote` may be null: rules with only a jwksUri then reject their tokens.
  explicit RequestAuthenticator(JwksCache* remote, Clock clock = std::chrono::system_clock::now);
  ~RequestAuthenticator();

  // Authenticates `request` to `target` (a waypoint target: ns, service, gateway, class) and
  // edits its headers as the matching rule says.
  asio::awaitable<AuthnResult> authenticate(const std::shared_ptr<const MeshIndex>& index,
                                            const rbac::Target& target, HttpRequest& request);
  // Whether any RequestAuthentication of `index` applies to `target`. When none does,
  // authenticate() has nothing to do (kNoToken, the request untouched): the proxy asks this
  // first and skips the call, a coroutine frame per request.
  bool anyApplies(const std::shared_ptr<const MeshIndex>& index, const rbac::Target& target);

  struct Compiled;

 private:
  // The rules of `index`, compiled once per configuration. Shared: a request suspended while
  // a JWKS is fetched keeps its rules even if the configuration changes meanwhile.
  std::shared_ptr<const Compiled> compiled(const std::shared_ptr<const MeshIndex>& index);

  JwksCache* remote_;
  Clock clock_;
  std::shared_ptr<const Compiled> compiled_;
};

// The 401 for a rejected token (body = reason, www-authenticate naming the request URL).
HttpResponse unauthorizedReply(const HttpRequest& request, const std::string& reason);

}  // namespace ambit::waypoint
