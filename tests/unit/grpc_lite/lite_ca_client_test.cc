// LiteCaClient (the ztunnel's certificate client, grpc_lite) against gRPC's real
// CertificateService server on a unix socket: the same answers as the gRPC runtime's CaClient.

#include "common/identity/lite_ca_client.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <optional>

#include "common/identity/ca_service.h"
#include "common/identity/csr.h"
#include "common/identity/verify.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;

class LiteCaClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<EmbeddedCa> ca = testing::openCa(dir_.path() / "state");
    ASSERT_TRUE(ca);
    ca_ = ca;
    address_ = "unix:" + (dir_.path() / "run" / "ca.sock").string();
    auto server = CaServer::start(address_, ca, [](const SpiffeId& id, std::string_view node) {
      if (node == "node-1" && id.serviceAccount != "not-here") return Status::ok();
      return Status(
          makeError("no pod with service account {} on node '{}'", id.serviceAccount, node));
    });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  // One fetch through a LiteCaClient on the test's loop, run until done (bounded).
  Result<IssuedCertificate> fetch(const std::string& csr_pem, LiteCaClientOptions o = {}) {
    if (o.address.empty()) o.address = address_;
    if (o.node.empty()) o.node = "node-1";
    LiteCaClient client(io_.get_executor(), o);
    std::optional<Result<IssuedCertificate>> got;
    client.fetch(csr_pem, 2h, [&](Result<IssuedCertificate> r) { got.emplace(std::move(r)); });
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!got && std::chrono::steady_clock::now() < deadline) io_.run_for(10ms);
    if (!got) return makeError("the fetch never finished");
    return std::move(*got);
  }

  static WorkloadKeyAndCsr csr(const std::string& sa) {
    auto id = SpiffeId::make("cluster.local", "default", sa);
    EXPECT_TRUE(id);
    auto req = createWorkloadCsr(*id);
    EXPECT_TRUE(req);
    return std::move(*req);
  }

  test::TempDir dir_{"lite-ca"};
  boost::asio::io_context io_;
  // The loop runs in slices between calls: without work it would stop for good.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::shared_ptr<EmbeddedCa> ca_;
  std::string address_;
  std::unique_ptr<CaServer> server_;
};

TEST_F(LiteCaClientTest, IssuesAVerifiableCertificateFromGrpcsServer) {
  auto req = csr("my-app");
  auto issued = fetch(req.csrPem);
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

TEST_F(LiteCaClientTest, RefusalsCarryTheSignerCodeAndTheServersWords) {
  auto denied = fetch(csr("not-here").csrPem);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, kNotAllowed);
  EXPECT_NE(denied.error().message.find("no pod with service account not-here on node 'node-1'"),
            std::string::npos)
      << denied.error().message;

  auto other_node = fetch(csr("my-app").csrPem, {.node = "node-2"});
  ASSERT_FALSE(other_node);
  EXPECT_EQ(other_node.error().code, kNotAllowed);

  auto garbage = fetch("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, kBadRequest) << garbage.error().message;
}

TEST_F(LiteCaClientTest, UnreachableOrSilentCaIsWorthRetrying) {
  auto missing = fetch(csr("my-app").csrPem,
                       {.address = "unix:" + (dir_.path() / "nobody.sock").string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, EAGAIN);
  EXPECT_NE(missing.error().message.find("nobody.sock"), std::string::npos)
      << missing.error().message;

  // A socket that accepts and never answers: the per-call timeout ends the call.
  std::string silent = (dir_.path() / "silent.sock").string();
  boost::asio::local::stream_protocol::acceptor acceptor(
      io_, boost::asio::local::stream_protocol::endpoint(silent));
  auto stuck = fetch(csr("my-app").csrPem, {.address = "unix:" + silent, .timeout = 300ms});
  ASSERT_FALSE(stuck);
  EXPECT_EQ(stuck.error().code, EAGAIN);
  EXPECT_NE(stuck.error().message.find("no answer within 300 ms"), std::string::npos)
      << stuck.error().message;
}

}  // namespace
}  // namespace ambit::identity
