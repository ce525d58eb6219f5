// EmbeddedCa over PEM material (Kubernetes mode: the CA Secret, or a user's plug-in `cacerts`):
// generated roots, intermediates in issued chains, and every way the material can be wrong.

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "common/identity/ca.h"
#include "common/identity/csr.h"
#include "common/identity/pem.h"
#include "common/identity/verify.h"
#include "common/identity/x509_builder.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;

constexpr const char* kId = "spiffe://cluster.local/ns/default/sa/my-app";
constexpr const char* kOrigin = "Secret ambit-system/cacerts";

EmbeddedCaOptions options() {
  EmbeddedCaOptions o;
  o.trustDomain = "cluster.local";
  return o;
}

CaMaterial generated() {
  auto m = EmbeddedCa::generateMaterial(options());
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  return m ? *m : CaMaterial{};
}

std::string csr() {
  auto key = generateP256Key();
  EXPECT_TRUE(key);
  auto pem = createCsrPem(key->get(), {kId});
  EXPECT_TRUE(pem);
  return pem ? *pem : "";
}

// A certificate for a new P-256 key signed by (issuerCert, issuerKeyPem), CA or leaf.
CaMaterial signedBy(const CaMaterial& issuer, bool ca, const std::string& cn) {
  auto issuerKey = parsePrivateKeyPem(issuer.keyPem);
  auto issuerCert = parseCertificatePem(issuer.certPem);
  auto key = generateP256Key();
  EXPECT_TRUE(issuerKey && issuerCert && key);
  auto now = std::chrono::system_clock::now();
  auto cert = x509::newCertificate(key->get(), now - 1min, now + 24h);
  EXPECT_TRUE(cert);
  X509* c = cert->get();
  auto name = x509::makeName({{"O", "ambit-test"}, {"CN", cn}});
  EXPECT_TRUE(name);
  EXPECT_EQ(X509_set_subject_name(c, name->get()), 1);
  EXPECT_EQ(X509_set_issuer_name(c, X509_get_subject_name(issuerCert->get())), 1);
  EXPECT_TRUE(x509::addExtension(c, issuerCert->get(), NID_basic_constraints,
                                 ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
  EXPECT_TRUE(
      x509::addExtension(c, issuerCert->get(), NID_key_usage,
                         ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"));
  EXPECT_TRUE(x509::addExtension(c, issuerCert->get(), NID_subject_key_identifier, "hash"));
  EXPECT_TRUE(
      x509::addExtension(c, issuerCert->get(), NID_authority_key_identifier, "keyid:always"));
  EXPECT_TRUE(x509::signSha256(c, issuerKey->get()));
  auto certPem = certificateToPem(c);
  auto keyPem = privateKeyToPem(key->get());
  EXPECT_TRUE(certPem && keyPem);
  return CaMaterial{*keyPem, *certPem, *certPem + issuer.certPem, issuer.rootPem};
}

// Verifies an issued chain against `rootPem` with the production SPIFFE verifier.
Result<SpiffeId> verifyIssued(const IssuedCertificate& issued, const std::string& rootPem) {
  auto roots = parseCertificateBundlePem(rootPem);
  EXPECT_TRUE(roots);
  ossl::X509StorePtr store(X509_STORE_new());
  for (const auto& r : *roots) X509_STORE_add_cert(store.get(), r.get());
  std::vector<ossl::X509Ptr> parsed;
  for (const auto& pem : issued.chainPem) {
    auto c = parseCertificatePem(pem);
    EXPECT_TRUE(c);
    parsed.push_back(std::move(*c));
  }
  std::vector<X509*> intermediates;
  for (size_t i = 1; i < parsed.size(); ++i) intermediates.push_back(parsed[i].get());
  PeerVerifyOptions o;
  o.trustDomain = "cluster.local";
  return verifyPeerChain(store.get(), parsed.at(0).get(), intermediates, o);
}

TEST(CaMaterialTest, GeneratedRootSignsLeavesThatVerify) {
  CaMaterial m = generated();
  EXPECT_EQ(m.certPem, m.rootPem);
  EXPECT_TRUE(m.chainPem.empty());
  auto ca = EmbeddedCa::fromMaterial(m, options(), kOrigin);
  ASSERT_TRUE(ca) << ca.error().message;
  auto issued = (*ca)->sign(csr(), 1h, nullptr);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->chainPem.size(), 1u);
  EXPECT_EQ(issued->rootsPem, std::vector<std::string>{m.rootPem});
  auto id = verifyIssued(*issued, m.rootPem);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->toString(), kId);
}

TEST(CaMaterialTest, IntermediateCaPutsItselfInEveryIssuedChain) {
  CaMaterial root = generated();
  CaMaterial intermediate = signedBy(root, /*ca=*/true, "ambit intermediate");
  auto ca = EmbeddedCa::fromMaterial(intermediate, options(), kOrigin);
  ASSERT_TRUE(ca) << ca.error().message;
  auto issued = (*ca)->sign(csr(), 1h, nullptr);
  ASSERT_TRUE(issued) << issued.error().message;
  ASSERT_EQ(issued->chainPem.size(), 2u);  // leaf + intermediate, not the root
  EXPECT_EQ(issued->chainPem[1], intermediate.certPem);
  EXPECT_EQ(issued->rootsPem, std::vector<std::string>{root.rootPem});
  auto id = verifyIssued(*issued, root.rootPem);
  ASSERT_TRUE(id) << id.error().message;
}

void expectRejected(const CaMaterial& m, const std::string& reason) {
  auto ca = EmbeddedCa::fromMaterial(m, options(), kOrigin);
  ASSERT_FALSE(ca) << "accepted material that should fail with: " << reason;
  EXPECT_NE(ca.error().message.find(kOrigin), std::string::npos) << ca.error().message;
  EXPECT_NE(ca.error().message.find(reason), std::string::npos) << ca.error().message;
}

TEST(CaMaterialTest, ServingCertificateCarriesDnsNamesAndTheSpiffeId) {
  CaMaterial root = generated();
  CaMaterial intermediate = signedBy(root, /*ca=*/true, "ambit intermediate");
  auto ca = EmbeddedCa::fromMaterial(intermediate, options(), kOrigin);
  ASSERT_TRUE(ca) << ca.error().message;
  auto id = SpiffeId::parse("spiffe://cluster.local/ns/ambit-system/sa/ambit-control");
  ASSERT_TRUE(id);
  auto serving =
      (*ca)->issueServing(*id, {"ambit-control.ambit-system.svc", "localhost", "172.30.0.1"}, 1h);
  ASSERT_TRUE(serving) << serving.error().message;
  ASSERT_EQ(serving->issued.chainPem.size(), 2u);
  auto verified = verifyIssued(serving->issued, root.rootPem);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(*verified, *id);
  auto leaf = parseCertificatePem(serving->issued.chainPem[0]);
  ASSERT_TRUE(leaf);
  const std::string host = "ambit-control.ambit-system.svc";
  EXPECT_EQ(X509_check_host(leaf->get(), host.data(), host.size(), 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf->get(), "evil.example", 12, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(leaf->get(), "172.30.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf->get(), "172.30.0.2", 0), 0);
  auto key = parsePrivateKeyPem(serving->keyPem);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf->get()), key->get()), 1);
  auto foreign = SpiffeId::parse("spiffe://other.domain/ns/a/sa/b");
  ASSERT_TRUE(foreign);
  EXPECT_FALSE((*ca)->issueServing(*foreign, {"x"}, 1h));
}

TEST(CaMaterialTest, RejectsKeyThatDoesNotMatchTheCertificate) {
  CaMaterial m = generated();
  m.keyPem = generated().keyPem;
  expectRejected(m, "ca-key.pem does not match ca-cert.pem");
}

TEST(CaMaterialTest, RejectsGarbageInEachFile) {
  CaMaterial m = generated();
  m.keyPem = "not a key";
  expectRejected(m, "ca-key.pem");
  m = generated();
  m.certPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  expectRejected(m, "ca-cert.pem");
  m = generated();
  m.rootPem.clear();
  expectRejected(m, "root-cert.pem is missing");
  m = generated();
  m.chainPem = "garbage";
  expectRejected(m, "cert-chain.pem");
}

TEST(CaMaterialTest, RejectsALeafPosingAsCa) {
  CaMaterial leaf = signedBy(generated(), /*ca=*/false, "not a ca");
  expectRejected(leaf, "not a CA certificate");
}

TEST(CaMaterialTest, RejectsAnIntermediateThatDoesNotChainToTheGivenRoot) {
  CaMaterial intermediate = signedBy(generated(), /*ca=*/true, "ambit intermediate");
  intermediate.rootPem = generated().rootPem;  // someone else's root
  intermediate.chainPem = intermediate.certPem;
  expectRejected(intermediate, "does not verify up to root-cert.pem");
}

TEST(CaMaterialTest, RejectsABadTrustDomain) {
  EmbeddedCaOptions o = options();
  o.trustDomain = "Not A Domain!";
  EXPECT_FALSE(EmbeddedCa::fromMaterial(generated(), o, kOrigin));
  EXPECT_FALSE(EmbeddedCa::generateMaterial(o));
}

}  // namespace
}  // namespace ambit::identity
