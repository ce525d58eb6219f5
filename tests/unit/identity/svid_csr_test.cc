// The CA side of the X509-SVID rules (svid_rules.h): a CSR asking for a certificate that would
// break a rule is refused naming it, everything the CA issues meets every rule, the CA refuses
// signing material that breaks a signing rule, and a workload refuses an issued leaf that breaks
// one (WorkloadCertificate::assemble, the receiving side of the CA protocol).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/identity/svid_rules.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;
using test::TempDir;
using test::TestPki;

constexpr char kId[] = "spiffe://cluster.local/ns/default/sa/my-app";
const std::string kUri = std::string("URI:") + kId;

MATCHER_P(BreaksRule, name, "") {
  return arg.find(std::string("SPIFFE rule ") + name + " (") != std::string::npos;
}

class CsrRulesTest : public ::testing::Test {
 protected:
  // The CA's refusal of a CSR asking for `extensions` ("" and a failure when it signed).
  std::string refusal(const std::vector<std::pair<int, std::string>>& extensions) {
    auto issued = ca_->sign(testing::csrRequesting(extensions), 1h, testing::allowAll());
    if (issued) {
      ADD_FAILURE() << "the CA signed it";
      return "";
    }
    EXPECT_EQ(issued.error().code, kBadRequest) << issued.error().message;
    return issued.error().message;
  }

  TempDir dir_;
  std::unique_ptr<EmbeddedCa> ca_ = testing::openCa(dir_.path());
};

TEST_F(CsrRulesTest, AValidRequestIsSignedEvenWithCompatibleUsages) {
  auto issued = ca_->sign(testing::csrRequesting({{NID_subject_alt_name, kUri},
                                                  {NID_basic_constraints, "critical,CA:FALSE"},
                                                  {NID_key_usage, "critical,digitalSignature"},
                                                  {NID_ext_key_usage, "serverAuth,clientAuth"}}),
                          1h, testing::allowAll());
  ASSERT_TRUE(issued) << issued.error().message;
}

TEST_F(CsrRulesTest, OneUriSan) {
  EXPECT_THAT(refusal({}), BreaksRule("one-uri-san"));
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri + ",URI:spiffe://cluster.local/ns/a/sa/b"}}),
              BreaksRule("one-uri-san"));
}

TEST_F(CsrRulesTest, CsrOnlyUriSan) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri + ",DNS:evil.example"}}),
              BreaksRule("csr-only-uri-san"));
}

TEST_F(CsrRulesTest, NonSpiffeUrisAndMalformedIds) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, "URI:https://cluster.local/ns/default/sa/x"}}),
              BreaksRule("id-scheme"));
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri + "#x"}}), BreaksRule("id-fragment"));
  EXPECT_THAT(refusal({{NID_subject_alt_name, "URI:spiffe://cluster.local/ns/../sa/x"}}),
              BreaksRule("id-path-dot-segment"));
}

TEST_F(CsrRulesTest, LeafPath) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, "URI:spiffe://cluster.local"}}),
              BreaksRule("leaf-path"));
}

TEST_F(CsrRulesTest, LeafNotCa) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri}, {NID_basic_constraints, "critical,CA:TRUE"}}),
              BreaksRule("leaf-not-ca"));
}

TEST_F(CsrRulesTest, LeafNoKeyCertSignNoCrlSign) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri},
                       {NID_key_usage, "critical,digitalSignature,keyCertSign"}}),
              BreaksRule("leaf-no-key-cert-sign"));
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri}, {NID_key_usage, "cRLSign"}}),
              BreaksRule("leaf-no-crl-sign"));
}

TEST_F(CsrRulesTest, LeafEku) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, kUri}, {NID_ext_key_usage, "serverAuth"}}),
              BreaksRule("leaf-eku"));
}

TEST_F(CsrRulesTest, TrustDomainAndAmbitShape) {
  EXPECT_THAT(refusal({{NID_subject_alt_name, "URI:spiffe://other.local/ns/default/sa/x"}}),
              BreaksRule("trust-domain"));
  EXPECT_THAT(refusal({{NID_subject_alt_name, "URI:spiffe://cluster.local/my-app"}}),
              BreaksRule("ambit-id-shape"));
}

TEST_F(CsrRulesTest, EverythingTheCaIssuesMeetsEveryRule) {
  ASSERT_TRUE(checkSigningCertificate(ca_->root(), "root"));
  auto rootId = certificateSpiffeUri(ca_->root());
  ASSERT_TRUE(rootId) << rootId.error().message;
  EXPECT_EQ(rootId->toString(), "spiffe://cluster.local") << "X509-SVID §3.2: SHOULD be an SVID";
  WorkloadCertificate wc = testing::issueWorkload(*ca_, "cluster.local", "my-app");
  auto leaf = checkLeafSvid(wc.leaf());
  EXPECT_TRUE(leaf) << leaf.error().message;
  auto id = SpiffeId::parse("spiffe://cluster.local/ns/ambit-system/sa/ambit-control");
  ASSERT_TRUE(id);
  auto serving = ca_->issueServing(*id, {"ambit-control.ambit-system.svc", "10.0.0.1"}, 1h);
  ASSERT_TRUE(serving) << serving.error().message;
  auto servingLeaf = parseCertificatePem(serving->issued.chainPem.front());
  ASSERT_TRUE(servingLeaf);
  auto checked = checkLeafSvid(servingLeaf->get());
  EXPECT_TRUE(checked) << checked.error().message;
}

TEST(CaMaterialRulesTest, SigningMaterialBreakingASigningRuleIsRefused) {
  TestPki root("plug-in root");
  TestPki::Spec with_path = TestPki::Spec::ca("plug-in intermediate");
  with_path.san = "URI:spiffe://cluster.local/ns/istio-system/sa/istiod";
  TestPki intermediate = root.intermediate(with_path);
  CaMaterial material{intermediate.ca().key_pem, intermediate.ca().cert_pem, "", root.caPem()};
  auto ca =
      EmbeddedCa::fromMaterial(material, {.trustDomain = "cluster.local"}, "Secret x/cacerts");
  ASSERT_FALSE(ca);
  EXPECT_THAT(ca.error().message, BreaksRule("signing-id-no-path"));
  EXPECT_NE(ca.error().message.find("Secret x/cacerts: ca-cert.pem"), std::string::npos)
      << ca.error().message;

  TestPki::Spec lax = TestPki::Spec::ca("root with a non-critical keyUsage");
  lax.key_usage = "keyCertSign";
  TestPki laxRoot(lax);
  CaMaterial laxMaterial{laxRoot.ca().key_pem, laxRoot.ca().cert_pem, "", laxRoot.caPem()};
  ca = EmbeddedCa::fromMaterial(laxMaterial, {.trustDomain = "cluster.local"}, "Secret x/cacerts");
  ASSERT_FALSE(ca);
  EXPECT_THAT(ca.error().message, BreaksRule("key-usage-critical"));
}

TEST(IssuedCertificateRulesTest, AWorkloadRefusesAnIssuedLeafBreakingARule) {
  TestPki pki("a CA gone wrong");
  TestPki::Spec ca_leaf = TestPki::Spec::leaf(kId);
  ca_leaf.basic_constraints = "critical,CA:TRUE";
  test::CertKey bad = pki.issue(ca_leaf);
  auto key = parsePrivateKeyPem(bad.key_pem);
  ASSERT_TRUE(key);
  auto wc = WorkloadCertificate::assemble(std::move(*key), {{bad.cert_pem}, {pki.caPem()}});
  ASSERT_FALSE(wc);
  EXPECT_THAT(wc.error().message, BreaksRule("leaf-not-ca"));
  EXPECT_NE(wc.error().message.find("issued certificate"), std::string::npos);
}

}  // namespace
}  // namespace ambit::identity
