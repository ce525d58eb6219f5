#pragma once
// JSON Web Tokens for RequestAuthentication: JWKS parsing and compact JWS verification on
// OpenSSL 3 (RS256 and ES256), with the claim checks Envoy's jwt_authn filter makes.
//
// Every rejection is an Error whose message is Envoy's wording ("Jwt is expired", "Jwt issuer
// is not configured", "Jwks doesn't have key to match kid or alg from Jwt", ...), so what a
// client sees in a 401 body is what Istio users already search for.
//
// Jwks is immutable after parse() and may be shared between threads; verification allocates
// per call and holds no state.

#include <openssl/evp.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rbac/attributes.h"
#include "common/status.h"

namespace ambit::waypoint::jwt {

// RFC 4648 §5 without padding. Decoding accepts unpadded input only (as JWS requires) and
// rejects any character outside the URL-safe alphabet.
std::string base64UrlEncode(std::string_view bytes);
std::optional<std::string> base64UrlDecode(std::string_view text);

enum class Algorithm { kRs256, kEs256 };

struct Jwk {
  std::string kid;  // empty when the JWKS entry has none
  Algorithm alg = Algorithm::kRs256;
  std::shared_ptr<EVP_PKEY> key;
};

// A JSON Web Key Set: RSA keys (kty RSA, n, e) and EC P-256 keys (kty EC, crv P-256, x, y).
// Keys of other types (oct, OKP, other curves) are skipped; a set with no usable key fails.
class Jwks {
 public:
  static Result<Jwks> parse(std::string_view json);
  const std::vector<Jwk>& keys() const { return keys_; }

 private:
  std::vector<Jwk> keys_;
};

// What a rule checks besides the signature.
struct JwtRequirements {
  std::string issuer;
  std::vector<std::string> audiences;  // empty: any (or no) audience is accepted
};

// A token whose signature, issuer, audiences and validity period were checked.
struct VerifiedJwt {
  std::string issuer;
  std::string subject;
  std::string payload_base64url;  // the token's payload segment, as sent
  rbac::Claims claims;            // flattened for request.auth.claims[...] (see attributes.h)

  // "<iss>/<sub>": Istio's request principal.
  std::string principal() const { return issuer + "/" + subject; }
};

inline constexpr size_t kMaxTokenBytes = 32 * 1024;
inline constexpr std::chrono::seconds kClockSkew{60};  // Envoy's default

// A decoded but not yet verified token: enough to pick the rule by issuer.
struct DecodedJwt {
  Algorithm alg = Algorithm::kRs256;
  std::optional<std::string> kid;
  std::string signing_input;  // "<header>.<payload>" as sent
  std::string signature;      // raw bytes
  std::string payload_base64url;
  nlohmann::json payload;
  std::string issuer;  // empty when the payload has no iss
};

// Splits and decodes a compact JWS; rejects alg none, HS*, and anything but RS256/ES256.
Result<DecodedJwt> decode(std::string_view token);

// Checks the issuer, validity period (exp, nbf with kClockSkew), audiences, then the
// signature against the key named by kid (every key of the token's algorithm when the token
// has no kid).
Result<VerifiedJwt> verify(const DecodedJwt& token, const JwtRequirements& requirements,
                           const Jwks& jwks, std::chrono::system_clock::time_point now);

// The payload's claims flattened as rbac::Claims: strings and lists of strings as they are,
// numbers and booleans as their JSON text, nested objects under "a][b" (at most 8 levels).
rbac::Claims flattenClaims(const nlohmann::json& payload);

}  // namespace ambit::waypoint::jwt
