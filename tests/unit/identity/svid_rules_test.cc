// Every X509-SVID / SPIFFE-ID rule of svid_rules.h, one refusal per rule: the input breaks
// exactly that rule (everything else valid) and the error must name it. The table in
// docs/hardening.md points at these tests. CSR and TLS refusals: svid_csr_test.cc,
// svid_tls_test.cc.
#include "common/identity/svid_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/identity/pem.h"
#include "common/identity/verify.h"
#include "tests/support/test_pki.h"

namespace ambit::identity {
namespace {

using test::TestPki;
using Spec = TestPki::Spec;

constexpr char kId[] = "spiffe://cluster.local/ns/default/sa/my-app";
constexpr char kTd[] = "cluster.local";

ossl::X509Ptr certOf(const test::CertKey& ck) {
  auto cert = parseCertificatePem(ck.cert_pem);
  EXPECT_TRUE(cert) << (cert ? "" : cert.error().message);
  return cert ? std::move(*cert) : nullptr;
}

// The message of a failed result; "" (and a test failure) when it succeeded.
template <typename R>
std::string refusal(const R& r) {
  if (r) {
    ADD_FAILURE() << "accepted";
    return "";
  }
  return r.error().message;
}

MATCHER_P(BreaksRule, name, "") {
  return arg.find(std::string("SPIFFE rule ") + name + " (") != std::string::npos;
}

TEST(SvidRulesTest, EveryRuleHasAUniqueNameAndASource) {
  std::set<std::string_view> names;
  for (int r = 0; r <= static_cast<int>(SvidRule::kCsrOnlyUriSan); ++r) {
    auto rule = static_cast<SvidRule>(r);
    EXPECT_TRUE(names.insert(ruleName(rule)).second) << ruleName(rule);
    EXPECT_FALSE(ruleSource(rule).empty()) << ruleName(rule);
  }
  EXPECT_EQ(ruleError(SvidRule::kLeafNotCa, "x").message,
            "SPIFFE rule leaf-not-ca (X509-SVID §4.1, §5.2): x");
}

TEST(SpiffeIdRulesTest, AcceptsValidIdsUpToTheLengthLimits) {
  for (std::string uri : {"spiffe://td", "spiffe://cluster.local/ns/a/sa/b",
                          "spiffe://my_td-1.example/Path.With-All_chars/9"}) {
    auto parsed = parseSpiffeUri(uri);
    ASSERT_TRUE(parsed) << uri << ": " << parsed.error().message;
    EXPECT_EQ(parsed->toString(), uri);
  }
  std::string td(255, 'a');
  EXPECT_TRUE(parseSpiffeUri("spiffe://" + td + "/x"));
  std::string longest = "spiffe://" + td + "/" + std::string(2048 - 9 - 255 - 1, 'p');
  ASSERT_EQ(longest.size(), 2048u);
  EXPECT_TRUE(parseSpiffeUri(longest)) << "SPIFFE-ID §2.3: ids up to 2048 bytes MUST work";
}

TEST(SpiffeIdRulesTest, EachMalformedIdNamesTheRuleItBreaks) {
  struct Case {
    std::string uri;
    const char* rule;
  };
  const Case cases[] = {
      {"https://cluster.local/ns/a/sa/b", "id-scheme"},
      {"SPIFFE://cluster.local/ns/a/sa/b", "id-scheme"},
      {"spiffe:/cluster.local/ns/a/sa/b", "id-scheme"},
      {"spiffe:///ns/a/sa/b", "id-trust-domain-empty"},
      {"spiffe://user@cluster.local/ns/a", "id-userinfo"},
      {"spiffe://cluster.local:8443/ns/a", "id-port"},
      {"spiffe://cluster.local:/ns/a", "id-port"},
      {"spiffe://Cluster.local/ns/a", "id-trust-domain-chars"},
      {"spiffe://cluster!local/ns/a", "id-trust-domain-chars"},
      {"spiffe://cluster%2elocal/ns/a", "id-trust-domain-percent"},
      {"spiffe://" + std::string(256, 'a') + "/ns/a", "id-trust-domain-length"},
      {"spiffe://cluster.local/ns/a?x=1", "id-query"},
      {"spiffe://cluster.local/ns/a#frag", "id-fragment"},
      {"spiffe://cluster.local/ns/a%20b", "id-path-percent"},
      {"spiffe://cluster.local/ns//a", "id-path-empty-segment"},
      {"spiffe://cluster.local/ns/./a", "id-path-dot-segment"},
      {"spiffe://cluster.local/ns/../a", "id-path-dot-segment"},
      {"spiffe://cluster.local/ns/a/", "id-path-trailing-slash"},
      {"spiffe://cluster.local/", "id-path-trailing-slash"},
      {"spiffe://cluster.local/ns/a b", "id-path-chars"},
      {"spiffe://cluster.local/ns/caf\xc3\xa9", "id-path-chars"},
      {"spiffe://cluster.local/" + std::string(2048, 'p'), "id-length"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(refusal(parseSpiffeUri(c.uri)), BreaksRule(c.rule)) << c.uri;
  }
}

TEST(SpiffeIdRulesTest, AmbitShapeAndTrustDomainAreRulesToo) {
  EXPECT_THAT(refusal(SpiffeId::parse("spiffe://cluster.local/workload")),
              BreaksRule("ambit-id-shape"));
  EXPECT_THAT(refusal(SpiffeId::parse("spiffe://cluster.local/ns/a/sa/b?q")),
              BreaksRule("id-query"));
  auto id = SpiffeId::parse(kId);
  ASSERT_TRUE(id);
  EXPECT_THAT(checkTrustDomain(*id, "other.local").message(), BreaksRule("trust-domain"));
}

class LeafRulesTest : public ::testing::Test {
 protected:
  // checkLeafSvid on a leaf of shape `spec` issued by the test root.
  Result<SpiffeUri> check(const Spec& spec) {
    return checkLeafSvid(certOf(pki_.issue(spec)).get());
  }
  static Spec valid() { return Spec::leaf(kId); }

  TestPki pki_{"svid rules root"};
};

TEST_F(LeafRulesTest, TheValidLeafAndItsAllowedVariantsPass) {
  auto uri = check(valid());
  ASSERT_TRUE(uri) << uri.error().message;
  EXPECT_EQ(uri->toString(), kId);
  Spec no_eku = valid();  // extendedKeyUsage is a SHOULD
  no_eku.ext_key_usage.clear();
  EXPECT_TRUE(check(no_eku));
  Spec no_bc = valid();  // absent basicConstraints means cA FALSE
  no_bc.basic_constraints.clear();
  EXPECT_TRUE(check(no_bc));
  Spec anonymous = valid();  // empty subject with a critical SAN
  anonymous.subject_cn.clear();
  anonymous.san = std::string("critical,URI:") + kId;
  EXPECT_TRUE(check(anonymous));
  Spec with_dns = valid();  // other SAN types are allowed
  with_dns.san += ",DNS:my-app.default.svc";
  EXPECT_TRUE(check(with_dns));
}

TEST_F(LeafRulesTest, OneUriSan) {
  Spec two = valid();
  two.san += ",URI:spiffe://cluster.local/ns/default/sa/other";
  EXPECT_THAT(refusal(check(two)), BreaksRule("one-uri-san"));
  Spec none = valid();
  none.san = "DNS:my-app.default.svc";
  EXPECT_THAT(refusal(check(none)), BreaksRule("one-uri-san"));
}

TEST_F(LeafRulesTest, TheUriSanMustBeAValidSpiffeId) {
  Spec https = valid();
  https.san = "URI:https://cluster.local/ns/default/sa/my-app";
  EXPECT_THAT(refusal(check(https)), BreaksRule("id-scheme"));
  Spec query = valid();
  query.san = std::string("URI:") + kId + "?admin=1";
  EXPECT_THAT(refusal(check(query)), BreaksRule("id-query"));
}

TEST_F(LeafRulesTest, UriSanCritical) {
  Spec s = valid();
  s.subject_cn.clear();
  EXPECT_THAT(refusal(check(s)), BreaksRule("uri-san-critical"));
}

TEST_F(LeafRulesTest, LeafPath) {
  Spec s = valid();
  s.san = "URI:spiffe://cluster.local";
  EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-path"));
}

TEST_F(LeafRulesTest, LeafNotCa) {
  Spec s = valid();
  s.basic_constraints = "critical,CA:TRUE";
  EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-not-ca"));
}

TEST_F(LeafRulesTest, KeyUsagePresent) {
  Spec s = valid();
  s.key_usage.clear();
  EXPECT_THAT(refusal(check(s)), BreaksRule("key-usage-present"));
}

TEST_F(LeafRulesTest, KeyUsageCritical) {
  Spec s = valid();
  s.key_usage = "digitalSignature,keyAgreement";
  EXPECT_THAT(refusal(check(s)), BreaksRule("key-usage-critical"));
}

TEST_F(LeafRulesTest, LeafDigitalSignature) {
  Spec s = valid();
  s.key_usage = "critical,keyAgreement";
  EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-digital-signature"));
}

TEST_F(LeafRulesTest, LeafNoKeyCertSign) {
  Spec s = valid();
  s.key_usage = "critical,digitalSignature,keyCertSign";
  EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-no-key-cert-sign"));
}

TEST_F(LeafRulesTest, LeafNoCrlSign) {
  Spec s = valid();
  s.key_usage = "critical,digitalSignature,cRLSign";
  EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-no-crl-sign"));
}

TEST_F(LeafRulesTest, LeafEku) {
  for (const char* eku : {"serverAuth", "clientAuth", "codeSigning"}) {
    Spec s = valid();
    s.ext_key_usage = eku;
    EXPECT_THAT(refusal(check(s)), BreaksRule("leaf-eku")) << eku;
  }
}

class SigningRulesTest : public LeafRulesTest {
 protected:
  Status checkCa(const Spec& spec) {
    return checkSigningCertificate(certOf(pki_.issue(spec)).get(), "test CA");
  }
  static Spec validCa() { return Spec::ca("signing"); }
};

TEST_F(SigningRulesTest, TheValidSigningCertificatePassesWithOrWithoutAnId) {
  EXPECT_TRUE(checkCa(validCa()));
  Spec with_id = validCa();
  with_id.san = "URI:spiffe://cluster.local";
  EXPECT_TRUE(checkCa(with_id));
}

TEST_F(SigningRulesTest, SigningCa) {
  Spec not_ca = validCa();
  not_ca.basic_constraints = "critical,CA:FALSE";
  EXPECT_THAT(checkCa(not_ca).message(), BreaksRule("signing-ca"));
  Spec absent = validCa();
  absent.basic_constraints.clear();
  EXPECT_THAT(checkCa(absent).message(), BreaksRule("signing-ca"));
}

TEST_F(SigningRulesTest, KeyUsagePresentAndCritical) {
  Spec absent = validCa();
  absent.key_usage.clear();
  EXPECT_THAT(checkCa(absent).message(), BreaksRule("key-usage-present"));
  Spec lax = validCa();
  lax.key_usage = "keyCertSign,cRLSign";
  EXPECT_THAT(checkCa(lax).message(), BreaksRule("key-usage-critical"));
}

TEST_F(SigningRulesTest, SigningKeyCertSign) {
  Spec s = validCa();
  s.key_usage = "critical,cRLSign";
  EXPECT_THAT(checkCa(s).message(), BreaksRule("signing-key-cert-sign"));
}

TEST_F(SigningRulesTest, SigningIdNoPath) {
  Spec s = validCa();
  s.san = "URI:spiffe://cluster.local/ns/default/sa/my-app";
  Status st = checkCa(s);
  EXPECT_THAT(st.message(), BreaksRule("signing-id-no-path"));
  EXPECT_NE(st.message().find("test CA"), std::string::npos) << st.message();
}

TEST_F(SigningRulesTest, OneUriSanAndValidIdOnSigningCertificates) {
  Spec two = validCa();
  two.san = "URI:spiffe://cluster.local,URI:spiffe://other.local";
  EXPECT_THAT(checkCa(two).message(), BreaksRule("one-uri-san"));
  Spec bad = validCa();
  bad.san = "URI:spiffe://Cluster.local";
  EXPECT_THAT(checkCa(bad).message(), BreaksRule("id-trust-domain-chars"));
}

// The full peer check after OpenSSL path validation, as every TLS verify path runs it.
class PeerChainTest : public LeafRulesTest {
 protected:
  Result<SpiffeId> verify(const TestPki& issuer, const Spec& leaf, const TestPki& root) {
    auto chain = parseCertificateBundlePem(issuer.issue(leaf).cert_pem);
    auto roots = parseCertificateBundlePem(root.caPem());
    EXPECT_TRUE(chain && roots);
    if (!chain || !roots) return makeError("test setup");
    auto store = buildTrustStore(*roots);
    EXPECT_TRUE(store);
    std::vector<X509*> intermediates;
    for (size_t i = 1; i < chain->size(); ++i) intermediates.push_back((*chain)[i].get());
    return verifyPeerChain(store->get(), chain->front().get(), intermediates, {.trustDomain = kTd});
  }
};

TEST_F(PeerChainTest, AValidChainThroughAnIntermediatePasses) {
  TestPki intermediate = pki_.intermediate(Spec::ca("intermediate"));
  auto id = verify(intermediate, valid(), pki_);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->toString(), kId);
}

TEST_F(PeerChainTest, PathValidation) {
  TestPki stranger("stranger root");
  EXPECT_THAT(refusal(verify(stranger, valid(), pki_)), BreaksRule("path-validation"));
  Spec expired = valid();
  expired.validity = TestPki::Validity::kExpired;
  EXPECT_THAT(refusal(verify(pki_, expired, pki_)), BreaksRule("path-validation"));
}

TEST_F(PeerChainTest, NameConstraintsOfASigningCertificateAreEnforced) {
  Spec constrained = Spec::ca("constrained");
  constrained.name_constraints = "critical,permitted;URI:other.local";
  TestPki elsewhere = pki_.intermediate(constrained);
  std::string why = refusal(verify(elsewhere, valid(), pki_));
  EXPECT_THAT(why, BreaksRule("path-validation"));
  EXPECT_NE(why.find("permitted subtree violation"), std::string::npos) << why;
  constrained.name_constraints = "critical,permitted;URI:cluster.local";
  TestPki here = pki_.intermediate(constrained);
  EXPECT_TRUE(verify(here, valid(), pki_));
}

TEST_F(PeerChainTest, SigningRulesApplyToEveryCertificateAboveTheLeaf) {
  Spec with_path = Spec::ca("intermediate with a workload id");
  with_path.san = "URI:spiffe://cluster.local/ns/default/sa/ca";
  TestPki intermediate = pki_.intermediate(with_path);
  std::string why = refusal(verify(intermediate, valid(), pki_));
  EXPECT_THAT(why, BreaksRule("signing-id-no-path"));
  EXPECT_NE(why.find("peer intermediate 1"), std::string::npos) << why;

  Spec lax_root = Spec::ca("root without a critical keyUsage");
  lax_root.key_usage = "keyCertSign,cRLSign";
  TestPki root(lax_root);
  why = refusal(verify(root, valid(), root));
  EXPECT_THAT(why, BreaksRule("key-usage-critical"));
  EXPECT_NE(why.find("peer trust anchor"), std::string::npos) << why;
}

TEST_F(PeerChainTest, ASigningCertificateCannotAuthenticate) {
  // X509-SVID §3.2: the CA's own certificate presented as a peer's leaf.
  Spec ca_as_leaf = Spec::ca("posing");
  ca_as_leaf.san = std::string("URI:") + kId;
  EXPECT_THAT(refusal(verify(pki_, ca_as_leaf, pki_)), BreaksRule("leaf-not-ca"));
}

TEST_F(PeerChainTest, TrustDomainAndAmbitShape) {
  EXPECT_THAT(refusal(verify(pki_, Spec::leaf("spiffe://other.local/ns/default/sa/my-app"), pki_)),
              BreaksRule("trust-domain"));
  EXPECT_THAT(refusal(verify(pki_, Spec::leaf("spiffe://cluster.local/my-app"), pki_)),
              BreaksRule("ambit-id-shape"));
}

TEST_F(PeerChainTest, TheHboneVerifierAppliesTheSameRules) {
  auto leaf = certOf(pki_.issue(valid()));
  hbone::PeerVerifier verifier = spiffePeerVerifier(kTd);
  auto ok = verifier(leaf.get(), nullptr);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, kId);
  Spec ca = valid();
  ca.basic_constraints = "critical,CA:TRUE";
  auto bad = certOf(pki_.issue(ca));
  EXPECT_THAT(refusal(verifier(bad.get(), nullptr)), BreaksRule("leaf-not-ca"));
}

}  // namespace
}  // namespace ambit::identity
