#include "tests/support/test_pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

namespace ambit::test {
namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

X509Ptr parse(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
}

// X509_V_OK or the verification error of `leaf` against the root in `ca_pem`.
int verify(const std::string& ca_pem, const std::string& leaf_pem) {
  X509Ptr ca = parse(ca_pem), leaf = parse(leaf_pem);
  EXPECT_TRUE(ca && leaf);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

constexpr char kId[] = "spiffe://cluster.local/ns/default/sa/client";

TEST(TestPki, IssuesLeafsTheRootVerifiesWithTheirSpiffeId) {
  TestPki pki("support test CA");
  CertKey leaf = pki.issue(kId);
  EXPECT_EQ(verify(pki.caPem(), leaf.cert_pem), X509_V_OK);
  auto id = spiffeVerifier("cluster.local")(parse(leaf.cert_pem).get(), nullptr);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, kId);
  auto foreign = spiffeVerifier("other.local")(parse(leaf.cert_pem).get(), nullptr);
  EXPECT_FALSE(foreign);
  auto none = spiffeVerifier("cluster.local")(parse(pki.issue("").cert_pem).get(), nullptr);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("exactly one URI SAN"), std::string::npos);
  EXPECT_NE(verify(TestPki("another CA").caPem(), leaf.cert_pem), X509_V_OK);
}

TEST(TestPki, ServerLeafForAnIpAddressCarriesThatIpSan) {
  TestPki pki("support test CA");
  CertKey server = pki.issueForIp("127.0.0.1");
  EXPECT_EQ(verify(pki.caPem(), server.cert_pem), X509_V_OK);
  X509Ptr cert = parse(server.cert_pem);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.2", 0), 0);
  EXPECT_FALSE(spiffeVerifier("cluster.local")(cert.get(), nullptr)) << "no URI SAN";
}

TEST(TestPki, ExpiredLeafFailsVerificationAsExpired) {
  TestPki pki("support test CA");
  EXPECT_EQ(verify(pki.caPem(), pki.issue(kId, TestPki::Validity::kExpired).cert_pem),
            X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(TestPki, LoadsAnExistingCaFromPemFiles) {
  TempDir dir("ambit-pki-test");
  TestPki original("original CA");
  const PemFiles ca = writePemFiles(original.ca(), dir.path(), "ca");
  EXPECT_EQ(readFile(ca.cert).rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_NE(readFile(ca.key).find("PRIVATE KEY-----"), std::string::npos);
  TestPki loaded = TestPki::load(ca.cert, ca.key);
  EXPECT_EQ(loaded.caPem(), original.caPem());
  EXPECT_EQ(verify(original.caPem(), loaded.issue(kId).cert_pem), X509_V_OK);

  EXPECT_THROW(TestPki::load(ca.cert, dir.file("missing.key")), std::runtime_error);
  const PemFiles stranger = writePemFiles(TestPki("stranger CA").ca(), dir.path(), "stranger");
  EXPECT_THROW(TestPki::load(ca.cert, stranger.key), std::runtime_error)
      << "a key that is not the certificate's must be refused";
}

}  // namespace
}  // namespace ambit::test
