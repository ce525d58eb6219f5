#include "waypoint/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

namespace ambit::waypoint::jwt {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMaxClaimDepth = 8;
constexpr size_t kEs256CoordinateBytes = 32;

int8_t sextet(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

BnPtr toBignum(const std::string& big_endian) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                         static_cast<int>(big_endian.size()), nullptr));
}

// Builds a public key of `type` ("RSA" / "EC") from the parameters the builder holds.
std::shared_ptr<EVP_PKEY> keyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();  // a bad key leaves nothing on the thread's error queue
    return nullptr;
  }
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

// The string member `name` of a JWK, base64url-decoded.
Result<std::string> keyBytes(const nlohmann::json& jwk, const char* name, const char* what) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return makeError("[{}] field is missing for {}", name, what);
  if (!it->is_string()) return makeError("[{}] field is not string for {}", name, what);
  auto bytes = base64UrlDecode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty())
    return makeError("[{}] field is an invalid Base64url for {}", name, what);
  return *bytes;
}

Result<Jwk> rsaKey(const nlohmann::json& jwk) {
  constexpr char kWhat[] = "a RSA key";
  if (auto alg = jwk.find("alg"); alg != jwk.end() && *alg != "RS256")
    return makeError("[alg] {} is not supported for a RSA key (only RS256)", alg->dump());
  auto n = keyBytes(jwk, "n", kWhat);
  if (!n) return n.error();
  auto e = keyBytes(jwk, "e", kWhat);
  if (!e) return e.error();
  BnPtr bn_n = toBignum(*n), bn_e = toBignum(*e);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return makeError("Jwks RSA [n] or [e] field is missing or has a parse error");
  }
  auto key = keyFromParams("RSA", bld.get());
  if (!key) return makeError("Jwks RSA [n] or [e] field is missing or has a parse error");
  return Jwk{"", Algorithm::kRs256, std::move(key)};
}

Result<Jwk> ecKey(const nlohmann::json& jwk) {
  constexpr char kWhat[] = "an EC key";
  if (auto alg = jwk.find("alg"); alg != jwk.end() && *alg != "ES256")
    return makeError("[alg] {} is not supported for an EC key (only ES256)", alg->dump());
  auto crv = jwk.find("crv");
  if (crv != jwk.end() && !crv->is_string())
    return makeError("[crv] field is not string for an EC key");
  if (crv != jwk.end() && *crv != "P-256")
    return makeError("[crv] {} is not supported for an EC key (only P-256)", crv->dump());
  auto x = keyBytes(jwk, "x", kWhat);
  if (!x) return x.error();
  auto y = keyBytes(jwk, "y", kWhat);
  if (!y) return y.error();
  if (x->size() != kEs256CoordinateBytes || y->size() != kEs256CoordinateBytes)
    return makeError("Jwks EC [x] and [y] fields have a parse error: P-256 needs 32 bytes each");
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return makeError("Jwks EC create key fail");
  }
  auto key = keyFromParams("EC", bld.get());
  if (!key) return makeError("Jwks EC [x] and [y] fields have a parse error: not a P-256 point");
  return Jwk{"", Algorithm::kEs256, std::move(key)};
}

Result<Jwk> parseJwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return makeError("not a JSON object");
  auto kty = jwk.find("kty");
  if (kty == jwk.end()) return makeError("[kty] is missing in [keys]");
  if (!kty->is_string()) return makeError("[kty] is bad in [keys]");
  Result<Jwk> key =
      *kty == "RSA"  ? rsaKey(jwk)
      : *kty == "EC" ? ecKey(jwk)
                     : Result<Jwk>(makeError("[kty] {} is not supported in [keys]", kty->dump()));
  if (!key) return key;
  if (auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string()) return makeError("[kid] is not a string");
    key->kid = kid->get<std::string>();
  }
  return key;
}

// JSON-parses one base64url segment of a token; `part` is "header" or "payload".
Result<nlohmann::json> decodeSegment(std::string_view segment, const char* part) {
  auto bytes = base64UrlDecode(segment);
  if (!bytes) return makeError("Jwt {} is an invalid Base64url encoded", part);
  auto json = nlohmann::json::parse(*bytes, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return makeError("Jwt {} is an invalid JSON", part);
  return json;
}

Status checkPayloadTypes(const nlohmann::json& payload) {
  for (const char* name : {"iss", "sub", "jti"}) {
    auto it = payload.find(name);
    if (it != payload.end() && !it->is_string())
      return makeError("Jwt payload [{}] field is not a string", name);
  }
  for (const char* name : {"exp", "nbf", "iat"}) {
    auto it = payload.find(name);
    if (it == payload.end()) continue;
    if (!it->is_number_integer())
      return makeError("Jwt payload [{}] field is not an integer", name);
    if (!it->is_number_unsigned() && it->get<int64_t>() < 0)
      return makeError("Jwt payload [{}] field is not a positive 64 bit integer", name);
  }
  if (auto aud = payload.find("aud"); aud != payload.end()) {
    bool ok = aud->is_string() || aud->is_array();
    if (aud->is_array()) {
      for (const auto& a : *aud) ok = ok && a.is_string();
    }
    if (!ok) return makeError("Jwt payload [aud] field is not a string or string list");
  }
  return Status::ok();
}

// Envoy compares audiences without scheme and trailing slash.
std::string_view sanitizeAudience(std::string_view a) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (a.substr(0, scheme.size()) == scheme) a.remove_prefix(scheme.size());
  }
  if (!a.empty() && a.back() == '/') a.remove_suffix(1);
  return a;
}

bool audienceAllowed(const nlohmann::json& payload, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  auto aud = payload.find("aud");
  if (aud == payload.end()) return false;
  std::vector<std::string> token_auds;
  if (aud->is_string()) token_auds.push_back(aud->get<std::string>());
  if (aud->is_array()) {
    for (const auto& a : *aud) token_auds.push_back(a.get<std::string>());
  }
  for (const auto& t : token_auds) {
    for (const auto& a : allowed) {
      if (sanitizeAudience(t) == sanitizeAudience(a)) return true;
    }
  }
  return false;
}

// JOSE ES256 signatures are r||s (32 bytes each); OpenSSL verifies DER ECDSA-Sig-Value.
std::optional<std::string> joseToDer(std::string_view sig) {
  if (sig.size() != 2 * kEs256CoordinateBytes) return std::nullopt;
  EcdsaSigPtr ecdsa(ECDSA_SIG_new());
  const auto* raw = reinterpret_cast<const unsigned char*>(sig.data());
  BIGNUM* r = BN_bin2bn(raw, kEs256CoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(raw + kEs256CoordinateBytes, kEs256CoordinateBytes, nullptr);
  if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(ecdsa.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool signatureValid(const DecodedJwt& token, const Jwk& key) {
  std::string der;
  std::string_view sig = token.signature;
  if (key.alg == Algorithm::kEs256) {
    auto converted = joseToDer(sig);
    if (!converted) return false;
    der = std::move(*converted);
    sig = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.key.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(token.signing_input.data()),
                       token.signing_input.size()) == 1;
  if (!ok) ERR_clear_error();  // every forged signature would otherwise leave errors queued
  return ok;
}

void flattenInto(const nlohmann::json& value, const std::string& key, size_t depth,
                 rbac::Claims& out) {
  if (value.is_object()) {
    if (depth >= kMaxClaimDepth) return;
    for (const auto& [name, child] : value.items()) {
      std::string child_key =
          key.empty() ? name : key + std::string(rbac::kClaimPathSeparator) + name;
      flattenInto(child, child_key, depth + 1, out);
    }
    return;
  }
  auto& values = out[key];
  const auto text = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  if (value.is_array()) {
    for (const auto& v : value) {
      if (!v.is_object() && !v.is_array() && !v.is_null()) values.push_back(text(v));
    }
  } else if (!value.is_null()) {
    values.push_back(text(value));
  }
}

}  // namespace

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no whole byte in the last sextet
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int8_t v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

Result<Jwks> Jwks::parse(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return makeError("Jwks is an invalid JSON");
  auto keys = doc.find("keys");
  if (keys == doc.end()) return makeError("Jwks does not have [keys] field");
  if (!keys->is_array()) return makeError("[keys] in Jwks is not an array");
  Jwks out;
  std::string first_problem;
  for (size_t i = 0; i < keys->size(); ++i) {
    auto key = parseJwk((*keys)[i]);
    if (key) {
      out.keys_.push_back(std::move(*key));
    } else if (first_problem.empty()) {
      first_problem = fmt::format(" (keys[{}]: {})", i, key.error().message);
    }
  }
  if (out.keys_.empty())
    return makeError("Jwks doesn't have any valid public key{}", first_problem);
  return out;
}

Result<DecodedJwt> decode(std::string_view token) {
  if (token.size() > kMaxTokenBytes)
    return makeError("Jwt is larger than {} bytes", kMaxTokenBytes);
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return makeError(
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections");
  }
  auto header = decodeSegment(token.substr(0, dot1), "header");
  if (!header) return header.error();
  DecodedJwt out;
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string())
    return makeError("Jwt header [alg] field is required and must be a string");
  if (*alg == "RS256") {
    out.alg = Algorithm::kRs256;
  } else if (*alg == "ES256") {
    out.alg = Algorithm::kEs256;
  } else {
    return makeError("Jwt header [alg] is not supported");
  }
  if (auto kid = header->find("kid"); kid != header->end()) {
    if (!kid->is_string()) return makeError("Jwt header [kid] field is not a string");
    out.kid = kid->get<std::string>();
  }
  out.payload_base64url = std::string(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto payload = decodeSegment(out.payload_base64url, "payload");
  if (!payload) return payload.error();
  out.payload = std::move(*payload);
  AMBIT_TRY(checkPayloadTypes(out.payload));
  out.issuer = out.payload.value("iss", "");
  auto sig = base64UrlDecode(token.substr(dot2 + 1));
  if (!sig) return makeError("Jwt signature is an invalid Base64url encoded");
  out.signature = std::move(*sig);
  out.signing_input = std::string(token.substr(0, dot2));
  return out;
}

Result<VerifiedJwt> verify(const DecodedJwt& token, const JwtRequirements& req, const Jwks& jwks,
                           std::chrono::system_clock::time_point now) {
  if (token.issuer != req.issuer) return makeError("Jwt issuer is not configured");
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const int64_t skew = kClockSkew.count();
  if (auto exp = token.payload.find("exp");
      exp != token.payload.end() && now_s - skew > exp->get<int64_t>()) {
    return makeError("Jwt is expired");
  }
  if (auto nbf = token.payload.find("nbf");
      nbf != token.payload.end() && now_s + skew < nbf->get<int64_t>()) {
    return makeError("Jwt not yet valid");
  }
  if (!audienceAllowed(token.payload, req.audiences))
    return makeError("Audiences in Jwt are not allowed");
  bool candidate = false;
  bool verified = false;
  for (const Jwk& key : jwks.keys()) {
    // A key without a kid matches any token kid (Envoy's jwt_verify_lib).
    if (key.alg != token.alg || (token.kid && !key.kid.empty() && key.kid != *token.kid)) continue;
    candidate = true;
    if (signatureValid(token, key)) {
      verified = true;
      break;
    }
  }
  if (!candidate) return makeError("Jwks doesn't have key to match kid or alg from Jwt");
  if (!verified) return makeError("Jwt verification fails");
  VerifiedJwt out;
  out.issuer = token.issuer;
  out.subject = token.payload.value("sub", "");
  out.payload_base64url = token.payload_base64url;
  out.claims = flattenClaims(token.payload);
  return out;
}

rbac::Claims flattenClaims(const nlohmann::json& payload) {
  rbac::Claims out;
  if (payload.is_object()) flattenInto(payload, "", 0, out);
  return out;
}

}  // namespace ambit::waypoint::jwt
