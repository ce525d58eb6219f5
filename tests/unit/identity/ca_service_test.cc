// CertificateService over a real gRPC server on a unix socket in a temp dir, through both
// clients: CaClient (gRPC's runtime) and LiteCaClient (grpc_lite: the ztunnel's).

#include "common/identity/ca_service.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <future>
#include <optional>

#include "common/identity/ca_client.h"
#include "common/identity/cert_manager.h"
#include "common/identity/csr.h"
#include "common/identity/lite_ca_client.h"
#include "common/identity/verify.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;

class CaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<EmbeddedCa> ca = testing::openCa(dir_.path() / "state");
    ASSERT_TRUE(ca);
    ca_ = ca;
    address_ = "unix:" + (dir_.path() / "run" / "node-1" / "ca.sock").string();
    // The agent's rule: only service accounts of pods on the requesting node.
    auto server = CaServer::start(address_, ca, [](const SpiffeId& id, std::string_view node) {
      if (node == "node-1" && id.serviceAccount != "not-here") return Status::ok();
      return Status(
          makeError("no pod with service account {} on node '{}'", id.serviceAccount, node));
    });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  CaClient client(const std::string& node = "node-1") {
    return CaClient({.address = address_, .node = node, .timeout = 5s});
  }

  // One fetch through a LiteCaClient on the test's loop, run until it is done (bounded).
  Result<IssuedCertificate> liteFetch(const std::string& csr_pem, LiteCaClientOptions o = {}) {
    if (o.address.empty()) o.address = address_;
    if (o.node.empty()) o.node = "node-1";
    LiteCaClient lite(io_.get_executor(), o);
    std::optional<Result<IssuedCertificate>> got;
    lite.fetch(csr_pem, 2h, [&](Result<IssuedCertificate> r) { got.emplace(std::move(r)); });
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!got && std::chrono::steady_clock::now() < deadline) io_.run_for(10ms);
    if (!got) return makeError("the fetch never finished");
    return std::move(*got);
  }

  // The certificate issued for `req` chains to the CA, names its service account and has the
  // TTL asked for (2 h).
  void expectIssuedFor(WorkloadKeyAndCsr req, Result<IssuedCertificate> issued) {
    ASSERT_TRUE(issued) << issued.error().message;
    ASSERT_EQ(issued->rootsPem, std::vector<std::string>{ca_->rootPem()});
    auto wc = WorkloadCertificate::assemble(std::move(req.key), std::move(*issued));
    ASSERT_TRUE(wc) << wc.error().message;
    EXPECT_EQ(wc->id.serviceAccount, "my-app");
    EXPECT_LE(wc->notAfter - wc->notBefore, 2h + 1min + 1s);
    auto store = buildTrustStore(wc->roots);
    ASSERT_TRUE(store);
    EXPECT_TRUE(verifyPeerChain(store->get(), wc->leaf(), {}, {.trustDomain = "cluster.local"}));
  }

  static WorkloadKeyAndCsr csr(const std::string& sa) {
    auto id = SpiffeId::make("cluster.local", "default", sa);
    EXPECT_TRUE(id);
    auto req = createWorkloadCsr(*id);
    EXPECT_TRUE(req);
    return std::move(*req);
  }

  test::TempDir dir_;
  boost::asio::io_context io_;
  // liteFetch runs the loop in slices: without work it would stop for good after the first.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::shared_ptr<EmbeddedCa> ca_;
  std::string address_;
  std::unique_ptr<CaServer> server_;
};

TEST_F(CaServiceTest, RoundTripIssuesVerifiableCertificate) {
  struct stat st {};
  ASSERT_EQ(::stat(address_.substr(5).c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  auto req = csr("my-app");
  auto issued = client().createCertificate(req.csrPem, 2h);
  expectIssuedFor(std::move(req), std::move(issued));
}

TEST_F(CaServiceTest, RefusesUnauthorizedIdentityAndBadCsr) {
  auto denied = client().createCertificate(csr("not-here").csrPem, 1h);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, kNotAllowed);
  EXPECT_NE(denied.error().message.find("no pod with service account not-here"), std::string::npos)
      << denied.error().message;

  auto otherNode = client("node-2").createCertificate(csr("my-app").csrPem, 1h);
  ASSERT_FALSE(otherNode);
  EXPECT_EQ(otherNode.error().code, kNotAllowed);

  auto garbage = client().createCertificate("garbage", 1h);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, kBadRequest);
  EXPECT_NE(garbage.error().message.find("CSR rejected"), std::string::npos);
}

TEST_F(CaServiceTest, AsyncFetchCompletes) {
  CaClient c = client();
  std::promise<Result<IssuedCertificate>> done;
  c.fetch(csr("my-app").csrPem, 1h, [&](Result<IssuedCertificate> r) { done.set_value(r); });
  auto fut = done.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto r = fut.get();
  EXPECT_TRUE(r) << r.error().message;
}

TEST_F(CaServiceTest, UnreachableServerIsARetryableError) {
  server_->shutdown();
  CaClient c({.address = address_, .node = "node-1", .timeout = 500ms});
  auto r = c.createCertificate(csr("my-app").csrPem, 1h);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EAGAIN) << r.error().message;
}

TEST_F(CaServiceTest, RestartReplacesStaleSocket) {
  server_.reset();
  auto again = CaServer::start(address_, ca_,
                               [](const SpiffeId&, std::string_view) { return Status::ok(); });
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(client().createCertificate(csr("my-app").csrPem, 1h));
}

TEST_F(CaServiceTest, ManagerWithAsioTimersObtainsCertificate) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);  // the fetch is in gRPC's hands meanwhile
  auto fetcher = std::make_shared<CaClient>(CaClientOptions{.address = address_, .node = "node-1"});
  std::promise<void> rotated;
  auto mgr = CertificateManager::create(io.get_executor(), fetcher, {},
                                        [&](const SpiffeId&, auto) { rotated.set_value(); });
  auto id = SpiffeId::make("cluster.local", "default", "my-app");
  ASSERT_TRUE(id);
  mgr->track(*id);
  auto fut = rotated.get_future();
  for (int i = 0; i < 100 && fut.wait_for(0s) != std::future_status::ready; ++i) {
    io.run_for(100ms);
  }
  auto cert = mgr->current(*id);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->id, *id);
  EXPECT_LE(cert->notAfter - cert->notBefore, 24h + 1min + 1s);
  mgr->stop();
  io.poll();
  EXPECT_EQ(mgr->current(*id), nullptr);
}

TEST_F(CaServiceTest, LiteClientIssuesAVerifiableCertificate) {
  auto req = csr("my-app");
  auto issued = liteFetch(req.csrPem);
  expectIssuedFor(std::move(req), std::move(issued));
}

TEST_F(CaServiceTest, LiteClientRefusalsCarryTheSignerCodeAndTheServersWords) {
  auto denied = liteFetch(csr("not-here").csrPem);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, kNotAllowed);
  EXPECT_NE(denied.error().message.find("no pod with service account not-here on node 'node-1'"),
            std::string::npos)
      << denied.error().message;

  auto other_node = liteFetch(csr("my-app").csrPem, {.node = "node-2"});
  ASSERT_FALSE(other_node);
  EXPECT_EQ(other_node.error().code, kNotAllowed);

  auto garbage = liteFetch("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, kBadRequest) << garbage.error().message;
}

TEST_F(CaServiceTest, LiteClientUnreachableOrSilentCaIsWorthRetrying) {
  auto missing = liteFetch(csr("my-app").csrPem,
                           {.address = "unix:" + (dir_.path() / "nobody.sock").string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, EAGAIN);
  EXPECT_NE(missing.error().message.find("nobody.sock"), std::string::npos)
      << missing.error().message;

  // A socket that accepts and never answers: the per-call timeout ends the call.
  std::string silent = (dir_.path() / "silent.sock").string();
  boost::asio::local::stream_protocol::acceptor acceptor(
      io_, boost::asio::local::stream_protocol::endpoint(silent));
  auto stuck = liteFetch(csr("my-app").csrPem, {.address = "unix:" + silent, .timeout = 300ms});
  ASSERT_FALSE(stuck);
  EXPECT_EQ(stuck.error().code, EAGAIN);
  EXPECT_NE(stuck.error().message.find("no answer within 300 ms"), std::string::npos)
      << stuck.error().message;
}

}  // namespace
}  // namespace ambit::identity
