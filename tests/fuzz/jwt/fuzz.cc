// Fuzzes JWT and JWKS handling (waypoint/jwt.h): the input is a JWKS document, a newline, and
// a compact token. The JWKS is parsed (Jwks::parse), the token decoded (jwt::decode), and when
// both succeed the token is verified against the key set (issuer, audiences, validity at a
// fixed time, signature) and its claims flattened, as RequestAuthentication does. The base64url
// codec must round-trip.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "waypoint/jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace jwt = ambit::waypoint::jwt;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view jwks_text = input.substr(0, newline);
  std::string_view token = newline == std::string_view::npos ? "" : input.substr(newline + 1);

  std::string encoded = jwt::base64UrlEncode(token);
  auto decoded_back = jwt::base64UrlDecode(encoded);
  if (!decoded_back || *decoded_back != token) {
    fprintf(stderr, "base64url does not round-trip\n");
    abort();
  }

  auto jwks = jwt::Jwks::parse(jwks_text);
  auto decoded = jwt::decode(token);
  if (!decoded) return 0;
  (void)jwt::flattenClaims(decoded->payload);
  if (!jwks) return 0;
  // 2024-01-01: the seeds' tokens are valid then (iat 2023, exp 2100).
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(1704067200));
  for (const auto& audiences : {std::vector<std::string>{}, std::vector<std::string>{"my-app"}}) {
    jwt::JwtRequirements req{decoded->issuer, audiences};
    auto verified = jwt::verify(*decoded, req, *jwks, at);
    if (verified) (void)verified->principal();
  }
  return 0;
}
