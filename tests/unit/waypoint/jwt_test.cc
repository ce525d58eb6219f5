// JWKS parsing and JWS verification (waypoint/jwt.h) with keys and tokens made by OpenSSL in
// the test.
#include "waypoint/jwt.h"

#include <gtest/gtest.h>

#include "tests/support/jwt_signer.h"

namespace ambit::waypoint::jwt {
namespace {

using ambit::test::JwtSigner;
using nlohmann::json;

constexpr char kIssuer[] = "https://issuer.example";

const JwtSigner& rsaKey() {
  static const JwtSigner k = JwtSigner::rsa("rsa-1");
  return k;
}
const JwtSigner& ecKey() {
  static const JwtSigner k = JwtSigner::ec("ec-1");
  return k;
}

class JwtVerifyTest : public ::testing::Test {
 protected:
  // Decodes and verifies; returns "" on success or the error message.
  std::string check(const std::string& token, std::vector<std::string> audiences = {},
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    auto jwks = Jwks::parse(JwtSigner::jwks(rsaKey(), ecKey()));
    if (!jwks) return "JWKS: " + jwks.error().message;
    auto decoded = decode(token);
    if (!decoded) return decoded.error().message;
    auto v = verify(*decoded, {kIssuer, std::move(audiences)}, *jwks, now);
    if (!v) return v.error().message;
    last_ = std::move(*v);
    return "";
  }
  VerifiedJwt last_;
};

TEST(Base64Url, RoundTripsAndRejectsBadInput) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    auto d = base64UrlDecode(base64UrlEncode(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64UrlDecode("ab+c"));  // standard alphabet
  EXPECT_FALSE(base64UrlDecode("abc="));  // padding
  EXPECT_FALSE(base64UrlDecode("a"));     // not a whole byte
  EXPECT_FALSE(base64UrlDecode("Zh"));    // non-canonical trailing bits ("Zg" is "f")
  EXPECT_FALSE(base64UrlDecode("ab c"));
}

TEST_F(JwtVerifyTest, ValidRs256AndEs256TokensGivePrincipalAndClaims) {
  json c = JwtSigner::claims(kIssuer, "alice", "bookstore");
  c["groups"] = {"admin", "dev"};
  c["org"] = {{"team", {{"name", "core"}}}, {"level", 3}};
  ASSERT_EQ(check(rsaKey().sign(c), {"bookstore"}), "");
  EXPECT_EQ(last_.principal(), "https://issuer.example/alice");
  EXPECT_EQ(last_.claims["groups"], (std::vector<std::string>{"admin", "dev"}));
  EXPECT_EQ(last_.claims["aud"], (std::vector<std::string>{"bookstore"}));
  EXPECT_EQ(last_.claims[rbac::nestedClaimKey({"org", "team", "name"})],
            (std::vector<std::string>{"core"}));
  EXPECT_EQ(last_.claims[rbac::nestedClaimKey({"org", "level"})], (std::vector<std::string>{"3"}));
  ASSERT_EQ(check(ecKey().sign(c)), "");
  EXPECT_EQ(last_.subject, "alice");
}

TEST_F(JwtVerifyTest, TokenWithoutKidIsTriedAgainstEveryKeyOfItsAlgorithm) {
  EXPECT_EQ(check(ecKey().sign(JwtSigner::claims(kIssuer, "bob"), false)), "");
  EXPECT_EQ(check(rsaKey().sign(JwtSigner::claims(kIssuer, "bob"), false)), "");
}

TEST_F(JwtVerifyTest, KeyWithoutKidMatchesATokenWithOne) {
  nlohmann::json jwk = rsaKey().jwk();
  jwk.erase("kid");
  auto jwks = Jwks::parse(nlohmann::json{{"keys", {jwk}}}.dump());
  ASSERT_TRUE(jwks) << jwks.error().message;
  auto decoded = decode(rsaKey().sign(JwtSigner::claims(kIssuer, "carol")));  // kid "rsa-1"
  ASSERT_TRUE(decoded);
  auto v = verify(*decoded, {kIssuer, {}}, *jwks, std::chrono::system_clock::now());
  EXPECT_TRUE(v) << v.error().message;
}

TEST_F(JwtVerifyTest, TimeChecksUseSixtySecondsOfSkew) {
  const auto now = std::chrono::system_clock::now();
  json c = JwtSigner::claims(kIssuer, "alice");
  EXPECT_EQ(check(rsaKey().sign(c), {}, now + std::chrono::seconds(3600 + 120)), "Jwt is expired");
  EXPECT_EQ(check(rsaKey().sign(c), {}, now + std::chrono::seconds(3600 + 30)), "");
  c["nbf"] = c["iat"].get<int64_t>() + 600;
  EXPECT_EQ(check(rsaKey().sign(c)), "Jwt not yet valid");
  c["nbf"] = c["iat"].get<int64_t>() + 30;
  EXPECT_EQ(check(rsaKey().sign(c)), "");
  c.erase("exp");  // exp is optional, as in Envoy
  c.erase("nbf");
  EXPECT_EQ(check(rsaKey().sign(c)), "");
  c["exp"] = "tomorrow";
  EXPECT_EQ(check(rsaKey().sign(c)), "Jwt payload [exp] field is not an integer");
  c["exp"] = -5;
  EXPECT_EQ(check(rsaKey().sign(c)), "Jwt payload [exp] field is not a positive 64 bit integer");
}

TEST_F(JwtVerifyTest, IssuerAndAudienceMustMatchTheRule) {
  EXPECT_EQ(check(rsaKey().sign(JwtSigner::claims("https://evil.example", "alice"))),
            "Jwt issuer is not configured");
  json c = JwtSigner::claims(kIssuer, "alice", json::array({"other", "https://bookstore/"}));
  EXPECT_EQ(check(rsaKey().sign(c), {"bookstore"}), "");  // scheme and slash do not matter
  EXPECT_EQ(check(rsaKey().sign(c), {"reviews"}), "Audiences in Jwt are not allowed");
  EXPECT_EQ(check(rsaKey().sign(JwtSigner::claims(kIssuer, "alice")), {"bookstore"}),
            "Audiences in Jwt are not allowed");
  EXPECT_EQ(check(rsaKey().sign(c)), "");  // no audiences configured: not checked
  c["aud"] = 7;
  EXPECT_EQ(check(rsaKey().sign(c)), "Jwt payload [aud] field is not a string or string list");
}

TEST_F(JwtVerifyTest, BadSignaturesAndUnknownKeysAreRejected) {
  std::string token = rsaKey().sign(JwtSigner::claims(kIssuer, "alice"));
  std::string flipped = token;
  char& c = flipped[flipped.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(check(flipped), "Jwt verification fails");
  std::string es = ecKey().sign(JwtSigner::claims(kIssuer, "alice"));
  es[es.size() - 5] = es[es.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(check(es), "Jwt verification fails");
  // Payload swapped under a valid signature.
  std::string other = rsaKey().sign(JwtSigner::claims(kIssuer, "mallory"));
  std::string spliced = token.substr(0, token.find('.')) + other.substr(other.find('.'));
  spliced = spliced.substr(0, spliced.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_EQ(check(spliced), "Jwt verification fails");
  JwtSigner stranger = JwtSigner::rsa("rsa-2");
  EXPECT_EQ(check(stranger.sign(JwtSigner::claims(kIssuer, "alice"))),
            "Jwks doesn't have key to match kid or alg from Jwt");
  EXPECT_EQ(check(stranger.sign(JwtSigner::claims(kIssuer, "alice"), false)),
            "Jwt verification fails");
  // kid of the RSA key on an ES256 token: no key of that kid and alg.
  EXPECT_EQ(check(ecKey().signRaw(R"({"alg":"ES256","kid":"rsa-1"})",
                                  JwtSigner::claims(kIssuer, "alice").dump())),
            "Jwks doesn't have key to match kid or alg from Jwt");
}

TEST_F(JwtVerifyTest, AlgNoneAndHmacKeyConfusionAreRejected) {
  json c = JwtSigner::claims(kIssuer, "alice");
  std::string none = base64UrlEncode(R"({"alg":"none"})") + "." + base64UrlEncode(c.dump()) + ".";
  EXPECT_EQ(check(none), "Jwt header [alg] is not supported");
  // HS256 keyed with the RSA public key's bytes (the classic confusion attack).
  std::string secret = rsaKey().jwk()["n"].get<std::string>();
  EXPECT_EQ(check(JwtSigner::signHs256({{"alg", "HS256"}, {"kid", "rsa-1"}}, c, secret)),
            "Jwt header [alg] is not supported");
  EXPECT_EQ(check(rsaKey().signRaw(R"({"kid":"rsa-1"})", c.dump())),
            "Jwt header [alg] field is required and must be a string");
  EXPECT_EQ(check(rsaKey().signRaw(R"({"alg":"RS256","kid":5})", c.dump())),
            "Jwt header [kid] field is not a string");
  // RS256 header, signed by the EC key: the RSA key does not verify it.
  EXPECT_EQ(check(ecKey().signRaw(R"({"alg":"RS256","kid":"rsa-1"})", c.dump())),
            "Jwt verification fails");
}

TEST_F(JwtVerifyTest, MalformedTokensGetPreciseErrors) {
  const std::string bad_format =
      "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";
  std::string good = rsaKey().sign(JwtSigner::claims(kIssuer, "alice"));
  EXPECT_EQ(check("abc.def"), bad_format);
  EXPECT_EQ(check(good + ".x"), bad_format);
  EXPECT_EQ(check(""), bad_format);
  EXPECT_EQ(check("a+b." + good.substr(good.find('.') + 1)),
            "Jwt header is an invalid Base64url encoded");
  EXPECT_EQ(check(base64UrlEncode("{not json") + "." + good.substr(good.find('.') + 1)),
            "Jwt header is an invalid JSON");
  EXPECT_EQ(check(rsaKey().signRaw(R"({"alg":"RS256"})", "[1,2]")),
            "Jwt payload is an invalid JSON");
  std::string h = good.substr(0, good.find('.'));
  EXPECT_EQ(check(h + ".%%%.abc"), "Jwt payload is an invalid Base64url encoded");
  EXPECT_EQ(check(good.substr(0, good.rfind('.')) + ".***"),
            "Jwt signature is an invalid Base64url encoded");
  EXPECT_EQ(check(rsaKey().signRaw(R"({"alg":"RS256"})", R"({"iss":1})")),
            "Jwt payload [iss] field is not a string");
  EXPECT_EQ(check(std::string(kMaxTokenBytes + 1, 'a')), "Jwt is larger than 32768 bytes");
}

TEST(JwksParse, EveryProblemHasAClearMessage) {
  auto err = [](const std::string& j) {
    auto r = Jwks::parse(j);
    return r ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(err("not json"), "Jwks is an invalid JSON");
  EXPECT_EQ(err("[]"), "Jwks is an invalid JSON");
  EXPECT_EQ(err("{}"), "Jwks does not have [keys] field");
  EXPECT_EQ(err(R"({"keys":{}})"), "[keys] in Jwks is not an array");
  EXPECT_EQ(err(R"({"keys":[]})"), "Jwks doesn't have any valid public key");
  EXPECT_EQ(err(R"({"keys":[{"n":"AQAB"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [kty] is missing in [keys])");
  EXPECT_EQ(err(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [kty] \"oct\" is not supported "
            "in [keys])");
  EXPECT_EQ(err(R"({"keys":[{"kty":"RSA","e":"AQAB"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [n] field is missing for a RSA key)");
  EXPECT_EQ(err(R"({"keys":[{"kty":"RSA","n":"a+b","e":"AQAB"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [n] field is an invalid Base64url "
            "for a RSA key)");
  EXPECT_EQ(err(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [crv] \"P-384\" is not supported "
            "for an EC key (only P-256))");
  const std::string zeros = base64UrlEncode(std::string(32, '\0'));
  EXPECT_EQ(
      err(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + zeros + R"(","y":")" + zeros + R"("}]})"),
      "Jwks doesn't have any valid public key (keys[0]: Jwks EC [x] and [y] fields have a "
      "parse error: not a P-256 point)");
  EXPECT_EQ(err(R"({"keys":[{"kty":"RSA","alg":"RS512","n":"AQAB","e":"AQAB"}]})"),
            "Jwks doesn't have any valid public key (keys[0]: [alg] \"RS512\" is not supported "
            "for a RSA key (only RS256))");
  // One bad key among good ones is skipped.
  json mixed = json::parse(JwtSigner::jwks(rsaKey()));
  mixed["keys"].push_back({{"kty", "oct"}});
  auto ok = Jwks::parse(mixed.dump());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->keys().size(), 1u);
  EXPECT_EQ(ok->keys()[0].kid, "rsa-1");
}

}  // namespace
}  // namespace ambit::waypoint::jwt
