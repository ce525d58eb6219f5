// The X509-SVID rules on real TLS 1.3 over loopback: an HboneServer and an HboneClientPool
// verifying with spiffePeerVerifier (what the ztunnel and the waypoint install through
// IdentityStore::peerVerifier) refuse a peer whose leaf, or whose chain, breaks a rule, and
// say which rule. Certificates OpenSSL itself would accept, so the refusal is ours.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "common/identity/verify.h"
#include "tests/support/log_capture.h"
#include "tests/support/test_pki.h"

namespace ambit::identity {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::CertKey;
using test::TestPki;
using Spec = TestPki::Spec;

constexpr char kTd[] = "cluster.local";
constexpr char kServerId[] = "spiffe://cluster.local/ns/server/sa/srv";
constexpr char kClientId[] = "spiffe://cluster.local/ns/client/sa/cli";

class SvidTlsTest : public ::testing::Test {
 protected:
  ~SvidTlsTest() override {
    if (server_) server_->close();
    if (pool_) pool_->close();
    ioc_.restart();
    ioc_.run_for(20ms);
  }

  // An HBONE server presenting `cert` that answers every CONNECT with 404 (a tunnel that got
  // that far passed both handshakes' verification).
  void startServer(const CertKey& cert) {
    server_tls_ = test::makeContext(&cert, pki_.caPem());
    server_ = std::make_unique<hbone::HboneServer>(
        ioc_.get_executor(), *server_tls_, spiffePeerVerifier(kTd),
        [](const hbone::ConnectRequest&) -> asio::awaitable<hbone::ConnectOutcome> {
          co_return 404;
        });
    asio::ip::tcp::acceptor acceptor(ioc_, {asio::ip::make_address("127.0.0.1"), 0});
    address_ = acceptor.local_endpoint();
    ASSERT_TRUE(server_->listen(std::move(acceptor)));
  }

  // The client's error for one tunnel attempt presenting `cert`.
  std::string connect(const CertKey& cert) {
    pool_ = std::make_unique<hbone::HboneClientPool>(ioc_.get_executor(), spiffePeerVerifier(kTd));
    hbone::Destination d;
    d.source_identity = kClientId;
    d.tls = test::makeContext(&cert, pki_.caPem());
    d.address = address_;
    hbone::TunnelRequest request;
    request.authority = "127.0.0.1:9";
    std::string error = "(did not finish)";
    bool done = false;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          auto stream = co_await pool_->connect(d, request);
          error = stream ? "" : stream.error().message;
        },
        [&](std::exception_ptr) { done = true; });
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done && std::chrono::steady_clock::now() < deadline) ioc_.run_one_for(50ms);
    return error;
  }

  asio::io_context ioc_;
  TestPki pki_{"svid tls root"};
  CertKey server_cert_ = pki_.issue(kServerId);
  CertKey client_cert_ = pki_.issue(kClientId);
  std::shared_ptr<asio::ssl::context> server_tls_;
  std::unique_ptr<hbone::HboneServer> server_;
  std::unique_ptr<hbone::HboneClientPool> pool_;
  asio::ip::tcp::endpoint address_;
};

TEST_F(SvidTlsTest, ValidSvidsOnBothSidesGetThroughTheHandshakes) {
  startServer(server_cert_);
  EXPECT_THAT(connect(client_cert_), ::testing::HasSubstr("refused: HTTP 404"));
  EXPECT_EQ(server_->stats().handshake_failures, 0u);
}

TEST_F(SvidTlsTest, TheServerRefusesAClientLeafThatIsACa) {
  startServer(server_cert_);
  Spec ca = Spec::leaf(kClientId);
  ca.basic_constraints = "critical,CA:TRUE";
  test::LogCapture log;
  EXPECT_THAT(connect(pki_.issue(ca)), ::testing::Not(::testing::HasSubstr("refused: HTTP 404")));
  EXPECT_EQ(server_->stats().handshake_failures, 1u);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("SPIFFE rule leaf-not-ca"));
}

TEST_F(SvidTlsTest, TheServerRefusesAClientLeafWithTwoUriSans) {
  startServer(server_cert_);
  Spec two = Spec::leaf(kClientId);
  two.san += ",URI:spiffe://cluster.local/ns/client/sa/other";
  test::LogCapture log;
  EXPECT_THAT(connect(pki_.issue(two)), ::testing::Not(::testing::HasSubstr("refused: HTTP 404")));
  EXPECT_EQ(server_->stats().handshake_failures, 1u);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("SPIFFE rule one-uri-san"));
}

TEST_F(SvidTlsTest, TheClientRefusesAServerLeafWithoutKeyUsage) {
  Spec no_ku = Spec::leaf(kServerId);
  no_ku.key_usage.clear();
  startServer(pki_.issue(no_ku));
  EXPECT_THAT(connect(client_cert_), ::testing::HasSubstr("SPIFFE rule key-usage-present"));
}

TEST_F(SvidTlsTest, TheClientRefusesAServerWhoseIntermediateHasAWorkloadId) {
  Spec with_path = Spec::ca("intermediate with a path");
  with_path.san = "URI:spiffe://cluster.local/ns/server/sa/srv";
  TestPki intermediate = pki_.intermediate(with_path);
  startServer(intermediate.issue(Spec::leaf(kServerId)));
  std::string error = connect(client_cert_);
  EXPECT_THAT(error, ::testing::HasSubstr("SPIFFE rule signing-id-no-path"));
  EXPECT_THAT(error, ::testing::HasSubstr("peer intermediate 1"));
}

TEST_F(SvidTlsTest, TheClientRefusesAServerIdWithAPathTraversal) {
  Spec dots = Spec::leaf("spiffe://cluster.local/ns/server/sa/../srv");
  startServer(pki_.issue(dots));
  EXPECT_THAT(connect(client_cert_), ::testing::HasSubstr("SPIFFE rule id-path-dot-segment"));
}

}  // namespace
}  // namespace ambit::identity
