// Peer verification helpers, checked with the OpenSSL API and a real in-memory TLS 1.3
// handshake (the openssl CLI's view: openssl_cli_test.cc).

#include "common/identity/verify.h"

#include <gtest/gtest.h>

#include "common/identity/pem.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

TEST(VerifyTest, IssuedChainVerifiesWithApi) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  WorkloadCertificate wc = testing::issueWorkload(*ca, "cluster.local", "my-app");
  auto store = buildTrustStore(wc.roots);
  ASSERT_TRUE(store);
  auto id = verifyPeerChain(store->get(), wc.leaf(), {}, {.trustDomain = "cluster.local"});
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->toString(), "spiffe://cluster.local/ns/default/sa/my-app");
  auto wrongTd = verifyPeerChain(store->get(), wc.leaf(), {}, {.trustDomain = "other.local"});
  EXPECT_FALSE(wrongTd);
}

TEST(VerifyTest, LeafFromOtherRootDoesNotVerify) {
  TempDir a, b;
  auto caA = testing::openCa(a.path());
  auto caB = testing::openCa(b.path());
  ASSERT_TRUE(caA && caB);
  WorkloadCertificate fromB = testing::issueWorkload(*caB, "cluster.local", "my-app");
  std::vector<ossl::X509Ptr> rootsA;
  rootsA.push_back(ossl::upRef(const_cast<X509*>(caA->root())));
  auto store = buildTrustStore(rootsA);
  ASSERT_TRUE(store);
  auto id = verifyPeerChain(store->get(), fromB.leaf(), {});
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("unable to get local issuer"), std::string::npos)
      << id.error().message;
}

TEST(VerifyTest, ExpiredCertificateFailsVerification) {
  TempDir dir;
  testing::FakeWallClock clock;
  clock.advance(-48h);  // the CA believes it is two days ago
  auto ca = testing::openCa(dir.path(), clock.fn());
  ASSERT_TRUE(ca);
  WorkloadCertificate wc = testing::issueWorkload(*ca, "cluster.local", "old", 1h);
  EXPECT_LT(wc.notAfter, std::chrono::system_clock::now());
  auto store = buildTrustStore(wc.roots);
  ASSERT_TRUE(store);
  auto now = verifyPeerChain(store->get(), wc.leaf(), {});
  ASSERT_FALSE(now);
  EXPECT_NE(now.error().message.find("certificate has expired"), std::string::npos)
      << now.error().message;
  // The same chain was fine while it was valid.
  EXPECT_TRUE(verifyPeerChain(store->get(), wc.leaf(), {}, {.at = *clock.now + 30min}));
}

// Runs a TLS handshake between client and server over an in-memory BIO pair.
struct Handshake {
  bool clientOk = false;
  bool serverOk = false;
  ossl::SslPtr client, server;
};

Handshake handshake(SSL_CTX* clientCtx, SSL_CTX* serverCtx) {
  Handshake h;
  h.client.reset(SSL_new(clientCtx));
  h.server.reset(SSL_new(serverCtx));
  BIO *cb = nullptr, *sb = nullptr;
  EXPECT_EQ(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
  SSL_set_bio(h.client.get(), cb, cb);
  SSL_set_bio(h.server.get(), sb, sb);
  SSL_set_connect_state(h.client.get());
  SSL_set_accept_state(h.server.get());
  for (int i = 0; i < 20; ++i) {
    int c = SSL_do_handshake(h.client.get());
    int s = SSL_do_handshake(h.server.get());
    h.clientOk = c == 1;
    h.serverOk = s == 1;
    if (h.clientOk && h.serverOk) break;
    // TLS 1.3: the server learns about a rejected client cert after the client "finished".
    char byte;
    if (h.clientOk) SSL_read(h.client.get(), &byte, 1);
  }
  ERR_clear_error();
  return h;
}

ossl::SslCtxPtr mtlsCtx(const WorkloadCertificate& wc, bool server) {
  ossl::SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  Status s = configureMtls(ctx.get(), wc);
  EXPECT_TRUE(s) << s.message();
  return ctx;
}

TEST(VerifyTest, MtlsHandshakeExchangesSpiffeIds) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  auto clientCtx = mtlsCtx(testing::issueWorkload(*ca, "cluster.local", "client"), false);
  auto serverCtx = mtlsCtx(testing::issueWorkload(*ca, "cluster.local", "server"), true);
  Handshake h = handshake(clientCtx.get(), serverCtx.get());
  ASSERT_TRUE(h.clientOk && h.serverOk);
  EXPECT_EQ(SSL_version(h.client.get()), TLS1_3_VERSION);
  auto serverSees = peerSpiffeId(h.server.get());
  auto clientSees = peerSpiffeId(h.client.get());
  ASSERT_TRUE(serverSees && clientSees);
  EXPECT_EQ(serverSees->serviceAccount, "client");
  EXPECT_EQ(clientSees->serviceAccount, "server");
  auto server = SpiffeId::make("cluster.local", "default", "server");
  auto other = SpiffeId::make("cluster.local", "default", "other");
  ASSERT_TRUE(server && other);
  EXPECT_TRUE(checkExpectedPeer(*clientSees, {*other, *server}));
  Status unexpected = checkExpectedPeer(*clientSees, {*other});
  ASSERT_FALSE(unexpected);
  EXPECT_NE(unexpected.message().find("sa/other"), std::string::npos) << unexpected.message();
}

TEST(VerifyTest, MtlsRejectsPeerFromOtherTrustDomain) {
  TempDir a, b;
  auto ca = testing::openCa(a.path());
  auto foreign = testing::openCa(b.path(), systemWallClock(), "other.local");
  ASSERT_TRUE(ca && foreign);
  WorkloadCertificate server = testing::issueWorkload(*ca, "cluster.local", "server");
  // The server even trusts the foreign root: the trust-domain rule alone must reject.
  server.roots.push_back(ossl::upRef(const_cast<X509*>(foreign->root())));
  auto serverCtx = mtlsCtx(server, true);
  auto clientCtx = mtlsCtx(testing::issueWorkload(*foreign, "other.local", "client"), false);
  SSL_CTX_set_verify(clientCtx.get(), SSL_VERIFY_NONE, nullptr);
  Handshake h = handshake(clientCtx.get(), serverCtx.get());
  EXPECT_FALSE(h.serverOk);
  EXPECT_EQ(SSL_get_verify_result(h.server.get()), X509_V_ERR_APPLICATION_VERIFICATION);
}

TEST(VerifyTest, MtlsRequiresClientCertificate) {
  TempDir dir;
  auto ca = testing::openCa(dir.path());
  ASSERT_TRUE(ca);
  auto serverCtx = mtlsCtx(testing::issueWorkload(*ca, "cluster.local", "server"), true);
  ossl::SslCtxPtr anonymous(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(anonymous.get(), SSL_VERIFY_NONE, nullptr);
  Handshake h = handshake(anonymous.get(), serverCtx.get());
  EXPECT_FALSE(h.serverOk);
}

}  // namespace
}  // namespace ambit::identity
