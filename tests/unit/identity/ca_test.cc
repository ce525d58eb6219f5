// EmbeddedCa: root lifecycle in the state directory, and what sign() accepts and issues.

#include "common/identity/ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/identity/csr.h"
#include "common/identity/pem.h"
#include "common/identity/verify.h"
#include "common/identity/x509_builder.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

constexpr const char* kId = "spiffe://cluster.local/ns/default/sa/my-app";

std::string csrFor(EVP_PKEY* key, std::vector<std::string> uris = {kId}) {
  auto pem = createCsrPem(key, uris);
  EXPECT_TRUE(pem) << (pem ? "" : pem.error().message);
  return pem ? *pem : std::string();
}

std::string p256Csr(std::vector<std::string> uris = {kId}) {
  auto key = generateP256Key();
  EXPECT_TRUE(key);
  return csrFor(key->get(), std::move(uris));
}

ossl::X509Ptr leafOf(const Result<IssuedCertificate>& issued) {
  EXPECT_TRUE(issued) << (issued ? "" : issued.error().message);
  if (!issued) return nullptr;
  EXPECT_EQ(issued->chainPem.size(), 1u);
  auto cert = parseCertificatePem(issued->chainPem.at(0));
  EXPECT_TRUE(cert);
  return cert ? std::move(*cert) : nullptr;
}

TEST(EmbeddedCaTest, CreatesRootThenReloadsTheSameOne) {
  TempDir dir;
  auto first = testing::openCa(dir.path());
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->created());
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / EmbeddedCa::kKeyFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ca-key.pem.tmp"));

  auto second = testing::openCa(dir.path());
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->created());
  EXPECT_EQ(first->rootPem(), second->rootPem());
  // A leaf from the reloaded CA verifies against the first root.
  auto leaf = leafOf(second->sign(p256Csr(), 1h, testing::allowAll()));
  std::vector<ossl::X509Ptr> roots;
  roots.push_back(ossl::upRef(const_cast<X509*>(first->root())));
  auto store = buildTrustStore(roots);
  ASSERT_TRUE(store);
  EXPECT_TRUE(verifyPeerChain(store->get(), leaf.get(), {}));
}

TEST(EmbeddedCaTest, RootHasCaProperties) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  X509* root = const_cast<X509*>(ca->root());
  EXPECT_EQ(X509_check_ca(root), 1);
  EXPECT_TRUE(X509_get_key_usage(root) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(requireP256(X509_get0_pubkey(root), "root"));
  auto lifetime = x509::notAfter(root) - x509::notBefore(root);
  EXPECT_GE(lifetime, std::chrono::hours(24 * 3650));
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(root), subject, sizeof(subject));
  EXPECT_STREQ(subject, "/O=ambit/CN=ambit root cluster.local");
}

TEST(EmbeddedCaTest, CorruptKeyFileIsAnErrorNamingTheFile) {
  TempDir dir;
  ASSERT_TRUE(testing::openCa(dir.path()));
  auto keyPath = dir.path() / EmbeddedCa::kKeyFile;
  std::string cert = test::readFile(dir.path() / EmbeddedCa::kCertFile);
  test::writeFile(keyPath, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
  auto ca = EmbeddedCa::openOrCreate({.stateDir = dir.path(), .trustDomain = "cluster.local"});
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find(keyPath.string()), std::string::npos) << ca.error().message;
  EXPECT_NE(ca.error().message.find("corrupt"), std::string::npos) << ca.error().message;
  // Never regenerated behind the operator's back.
  EXPECT_EQ(test::readFile(dir.path() / EmbeddedCa::kCertFile), cert);
}

TEST(EmbeddedCaTest, CorruptCertFileIsAnErrorNamingTheFile) {
  TempDir dir;
  ASSERT_TRUE(testing::openCa(dir.path()));
  auto certPath = dir.path() / EmbeddedCa::kCertFile;
  test::writeFile(certPath, "not a certificate\n");
  auto ca = EmbeddedCa::openOrCreate({.stateDir = dir.path(), .trustDomain = "cluster.local"});
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find(certPath.string()), std::string::npos) << ca.error().message;
  EXPECT_EQ(test::readFile(certPath), "not a certificate\n");
}

TEST(EmbeddedCaTest, MismatchedKeyAndCertIsAnError) {
  TempDir a, b;
  ASSERT_TRUE(testing::openCa(a.path()));
  ASSERT_TRUE(testing::openCa(b.path()));
  std::filesystem::copy_file(b.path() / EmbeddedCa::kKeyFile, a.path() / EmbeddedCa::kKeyFile,
                             std::filesystem::copy_options::overwrite_existing);
  auto ca = EmbeddedCa::openOrCreate({.stateDir = a.path(), .trustDomain = "cluster.local"});
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find("does not match"), std::string::npos) << ca.error().message;
}

TEST(EmbeddedCaTest, MissingHalfOrOtherTrustDomainIsAnError) {
  TempDir dir;
  ASSERT_TRUE(testing::openCa(dir.path()));
  auto other = EmbeddedCa::openOrCreate({.stateDir = dir.path(), .trustDomain = "other.local"});
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("other.local"), std::string::npos);

  std::filesystem::remove(dir.path() / EmbeddedCa::kCertFile);
  auto ca = EmbeddedCa::openOrCreate({.stateDir = dir.path(), .trustDomain = "cluster.local"});
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find(EmbeddedCa::kCertFile), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / EmbeddedCa::kCertFile));
}

TEST(EmbeddedCaTest, IssuesLeafWithExpectedProfile) {
  TempDir dir;
  testing::FakeWallClock clock;
  auto ca = testing::openCa(dir.path(), clock.fn());
  ASSERT_TRUE(ca);
  auto leaf = leafOf(ca->sign(p256Csr(), 2h, testing::allowAll()));
  ASSERT_TRUE(leaf);
  auto id = spiffeIdFromCertificate(leaf.get());
  ASSERT_TRUE(id);
  EXPECT_EQ(id->toString(), kId);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), uint32_t{KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT});
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), uint32_t{XKU_SSL_SERVER | XKU_SSL_CLIENT});
  EXPECT_NE(X509_get0_subject_key_id(leaf.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(leaf.get())), 0);
  EXPECT_EQ(x509::notBefore(leaf.get()),
            std::chrono::floor<std::chrono::seconds>(*clock.now) - 1min);
  EXPECT_EQ(x509::notAfter(leaf.get()), std::chrono::floor<std::chrono::seconds>(*clock.now) + 2h);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf.get());
  EXPECT_EQ(ASN1_STRING_length(serial), 16);
}

TEST(EmbeddedCaTest, CapsTtlAtConfiguredMaximum) {
  TempDir dir;
  testing::FakeWallClock clock;
  auto ca = EmbeddedCa::openOrCreate({.stateDir = dir.path(),
                                      .trustDomain = "cluster.local",
                                      .maxLeafTtl = 3h,
                                      .clock = clock.fn()});
  ASSERT_TRUE(ca);
  auto now = std::chrono::floor<std::chrono::seconds>(*clock.now);
  auto capped = leafOf((*ca)->sign(p256Csr(), 48h, testing::allowAll()));
  EXPECT_EQ(x509::notAfter(capped.get()), now + 3h);
  auto defaulted = leafOf((*ca)->sign(p256Csr(), 0s, testing::allowAll()));
  EXPECT_EQ(x509::notAfter(defaulted.get()), now + 3h);
  auto shorter = leafOf((*ca)->sign(p256Csr(), 10min, testing::allowAll()));
  EXPECT_EQ(x509::notAfter(shorter.get()), now + 10min);
}

TEST(EmbeddedCaTest, LeafNeverOutlivesRoot) {
  TempDir dir;
  testing::FakeWallClock clock;
  auto ca = EmbeddedCa::openOrCreate({.stateDir = dir.path(),
                                      .trustDomain = "cluster.local",
                                      .rootValidity = 2h,
                                      .clock = clock.fn()});
  ASSERT_TRUE(ca);
  auto leaf = leafOf((*ca)->sign(p256Csr(), 24h, testing::allowAll()));
  EXPECT_EQ(x509::notAfter(leaf.get()), x509::notAfter((*ca)->root()));
  clock.advance(3h);
  auto expired = (*ca)->sign(p256Csr(), 1h, testing::allowAll());
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, kSignerFailure);
}

void expectRejected(EmbeddedCa& ca, const std::string& csr, std::string_view why,
                    int code = kBadRequest, const IdentityAuthorizer& auth = testing::allowAll()) {
  auto issued = ca.sign(csr, 1h, auth);
  ASSERT_FALSE(issued) << "accepted CSR expected to fail with: " << why;
  EXPECT_EQ(issued.error().code, code) << issued.error().message;
  EXPECT_NE(issued.error().message.find(why), std::string::npos) << issued.error().message;
}

// Flips one character of the SPIFFE id inside the signed part of the CSR.
std::string tamperCsr(const std::string& pem) {
  auto csr = parseCsrPem(pem);
  EXPECT_TRUE(csr);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(csr->get(), &der);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  size_t pos = bytes.find("my-app");
  EXPECT_NE(pos, std::string::npos);
  bytes[pos] = 'n';  // "ny-app": still a valid id, but no longer what was signed
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  ossl::X509ReqPtr tampered(d2i_X509_REQ(nullptr, &p, static_cast<long>(bytes.size())));
  EXPECT_TRUE(tampered);
  auto out = csrToPem(tampered.get());
  return out ? *out : std::string();
}

TEST(EmbeddedCaTest, RejectsBadRequests) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  ossl::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  ossl::EvpPkeyPtr p384(EVP_EC_gen("P-384"));
  ASSERT_TRUE(rsa && p384);
  expectRejected(*ca, csrFor(rsa.get()), "key type is RSA");
  expectRejected(*ca, csrFor(p384.get()), "curve is secp384r1");
  expectRejected(*ca, p256Csr({}), "SPIFFE rule one-uri-san");
  expectRejected(*ca, p256Csr({kId, "spiffe://cluster.local/ns/default/sa/other"}), "2 URI SANs");
  expectRejected(*ca, p256Csr({"spiffe://evil.example/ns/default/sa/my-app"}),
                 "not in trust domain 'cluster.local'");
  expectRejected(*ca, p256Csr({"spiffe://cluster.local/ns/default"}), "invalid SPIFFE id");
  expectRejected(*ca, tamperCsr(p256Csr()), "signature does not verify");
  expectRejected(*ca,
                 "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                 "parse CSR");
  expectRejected(*ca, "not a pem at all", "parse CSR");
  expectRejected(*ca, p256Csr(), "not allowed: pod not on this node", kNotAllowed,
                 [](const SpiffeId&) { return makeError("pod not on this node"); });
}

TEST(EmbeddedCaTest, AuthorizerSeesTheRequestedIdentity) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  std::string seen;
  auto issued = ca->sign(p256Csr(), 1h, [&](const SpiffeId& id) {
    seen = id.toString();
    return Status::ok();
  });
  EXPECT_TRUE(issued);
  EXPECT_EQ(seen, kId);
}

}  // namespace
}  // namespace ambit::identity
