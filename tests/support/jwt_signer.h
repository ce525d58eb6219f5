#pragma once
// Test-only JWT issuer: generates an RSA 2048 or EC P-256 key with OpenSSL, publishes it as a
// JWK, and signs compact JWS tokens (RS256 / ES256), plus HS256 and unsigned forms for
// negative tests. Header-only (tests/support links no waypoint code); unit and end-to-end tests
// share it.

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "waypoint/jwt.h"

namespace ambit::test {

class JwtSigner {
 public:
  static JwtSigner rsa(std::string kid) {
    return JwtSigner(EVP_RSA_gen(2048), "RS256", std::move(kid));
  }
  static JwtSigner ec(std::string kid) {
    return JwtSigner(EVP_EC_gen("P-256"), "ES256", std::move(kid));
  }

  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }

  // The public key as a JWK (kty, kid, alg and n/e or crv/x/y).
  nlohmann::json jwk() const {
    nlohmann::json j{{"kid", kid_}, {"alg", alg_}, {"use", "sig"}};
    if (alg_ == "RS256") {
      j["kty"] = "RSA";
      j["n"] = bnParam(OSSL_PKEY_PARAM_RSA_N, 0);
      j["e"] = bnParam(OSSL_PKEY_PARAM_RSA_E, 0);
    } else {
      j["kty"] = "EC";
      j["crv"] = "P-256";
      j["x"] = bnParam(OSSL_PKEY_PARAM_EC_PUB_X, 32);
      j["y"] = bnParam(OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    }
    return j;
  }
  // {"keys":[...]} of the given signers.
  template <typename... Signers>
  static std::string jwks(const Signers&... signers) {
    nlohmann::json keys = nlohmann::json::array();
    (keys.push_back(signers.jwk()), ...);
    return nlohmann::json{{"keys", keys}}.dump();
  }

  // A token with this key's alg and kid (a header without kid when `with_kid` is false).
  std::string sign(const nlohmann::json& payload, bool with_kid = true) const {
    nlohmann::json header{{"alg", alg_}, {"typ", "JWT"}};
    if (with_kid) header["kid"] = kid_;
    return signRaw(header.dump(), payload.dump());
  }
  // Signs arbitrary header and payload bytes with this key.
  std::string signRaw(const std::string& header, const std::string& payload) const {
    std::string input =
        waypoint::jwt::base64UrlEncode(header) + "." + waypoint::jwt::base64UrlEncode(payload);
    return input + "." + waypoint::jwt::base64UrlEncode(signature(input));
  }

  // HS256 keyed with `secret` (key-confusion attacks use the public key's bytes).
  static std::string signHs256(const nlohmann::json& header, const nlohmann::json& payload,
                               const std::string& secret) {
    std::string input = waypoint::jwt::base64UrlEncode(header.dump()) + "." +
                        waypoint::jwt::base64UrlEncode(payload.dump());
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." +
           waypoint::jwt::base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len));
  }

  // Claims valid for an hour from now.
  static nlohmann::json claims(const std::string& iss, const std::string& sub,
                               const nlohmann::json& aud = nullptr) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    nlohmann::json c{{"iss", iss}, {"sub", sub}, {"iat", now}, {"exp", now + 3600}};
    if (!aud.is_null()) c["aud"] = aud;
    return c;
  }

 private:
  JwtSigner(EVP_PKEY* key, std::string alg, std::string kid)
      : key_(key, EVP_PKEY_free), alg_(std::move(alg)), kid_(std::move(kid)) {
    if (!key_) throw std::runtime_error("key generation failed");
  }

  std::string bnParam(const char* name, int pad) const {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key_.get(), name, &bn) != 1) throw std::runtime_error(name);
    std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
    BN_free(bn);
    return waypoint::jwt::base64UrlEncode(out);
  }

  std::string signature(const std::string& input) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get());
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                   input.size());
    sig.resize(len);
    if (alg_ != "ES256") return sig;
    // DER ECDSA-Sig-Value -> JOSE r||s.
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(ecdsa);
    return raw;
  }

  std::shared_ptr<EVP_PKEY> key_;
  std::string alg_;
  std::string kid_;
};

}  // namespace ambit::test
