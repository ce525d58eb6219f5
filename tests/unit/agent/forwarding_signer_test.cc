// The node agent's ForwardingSigner applies the CA's CSR rules (svid_rules.h) before it asks
// its authorizer or forwards anything to ambit-control: a CSR asking for a certificate that
// would break an X509-SVID rule is refused locally, naming the rule.
#include "agent/forwarding_signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "common/identity/ca_client.h"
#include "common/identity/ca_service.h"
#include "common/identity/lite_ca_client.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::agent {
namespace {

using identity::testing::csrRequesting;
using namespace std::chrono_literals;

constexpr char kUri[] = "URI:spiffe://cluster.local/ns/default/sa/my-app";

// The signer's answer for `csr`; no control-plane client, so anything that gets past the local
// checks is refused by the authorizer instead (and says so).
std::string answer(const std::string& csr) {
  ForwardingSigner signer(nullptr);
  auto issued = signer.sign(csr, std::chrono::hours(1), [](const identity::SpiffeId&) {
    return makeError("authorizer reached");
  });
  return issued ? "signed" : issued.error().message;
}

TEST(ForwardingSignerTest, RefusesCsrsBreakingAnSvidRuleBeforeTheAuthorizer) {
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, kUri}})),
              ::testing::HasSubstr("authorizer reached"));
  EXPECT_THAT(
      answer(csrRequesting(
          {{NID_subject_alt_name, std::string(kUri) + ",URI:spiffe://cluster.local/ns/a/sa/b"}})),
      ::testing::HasSubstr("SPIFFE rule one-uri-san"));
  EXPECT_THAT(
      answer(csrRequesting({{NID_subject_alt_name, kUri}, {NID_basic_constraints, "CA:TRUE"}})),
      ::testing::HasSubstr("SPIFFE rule leaf-not-ca"));
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, "URI:spiffe://cluster.local"}})),
              ::testing::HasSubstr("SPIFFE rule leaf-path"));
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, "URI:http://cluster.local/ns/a/sa/b"}})),
              ::testing::HasSubstr("SPIFFE rule id-scheme"));
}

// The chain of Kubernetes mode with ambit-control unreachable: the ztunnel asks the agent's CA
// socket, whose ForwardingSigner asks ambit-control (wait-for-ready, 30 s of its own). The
// forwarded call must give up within the ztunnel's 3 s deadline and tell the ztunnel why,
// rather than run on after the ztunnel stopped listening and leave it a bare timeout. The
// answer margin is 1 s here (200 ms in the agent), so a loaded machine does not decide it.
TEST(ForwardingSignerTest, GivesUpWithinTheRequestersDeadlineAndSaysWhy) {
  test::TempDir dir("forwarding-signer-deadline");
  auto control = std::make_shared<identity::CaClient>(identity::CaClientOptions{
      .address = "unix:" + (dir.path() / "no-ambit-control.sock").string(),
      .node = "node-1",
      .timeout = 30s,
      .wait_for_ready = true,
      .answer_margin = 1s});
  auto signer = std::make_shared<ForwardingSigner>(control);
  const std::string agent_address = "unix:" + (dir.path() / "ca.sock").string();
  auto server = identity::CaServer::start(
      agent_address, signer,
      [](const identity::SpiffeId&, std::string_view) { return Status::ok(); });
  ASSERT_TRUE(server) << server.error().message;
  auto id = identity::SpiffeId::make("cluster.local", "default", "my-app");
  ASSERT_TRUE(id);
  auto csr = identity::createWorkloadCsr(*id);
  ASSERT_TRUE(csr);

  // The ztunnel's own client (grpc_lite: its deadline travels as grpc-timeout).
  boost::asio::io_context io;
  identity::LiteCaClient ztunnel(io.get_executor(),
                                 {.address = agent_address, .node = "node-1", .timeout = 3s});
  std::optional<Result<identity::IssuedCertificate>> answer;
  ztunnel.fetch(csr->csrPem, 1h,
                [&](Result<identity::IssuedCertificate> r) { answer.emplace(std::move(r)); });
  const auto give_up = std::chrono::steady_clock::now() + 15s;
  while (!answer && std::chrono::steady_clock::now() < give_up) io.run_for(10ms);
  ASSERT_TRUE(answer) << "the ztunnel's call never ended";
  const Result<identity::IssuedCertificate>& issued = *answer;
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().code, EAGAIN) << issued.error().message;
  // The agent's answer (UNAVAILABLE, code 14), not the ztunnel's own timeout.
  EXPECT_THAT(issued.error().message, ::testing::HasSubstr("(gRPC code 14)"));
  EXPECT_THAT(issued.error().message,
              ::testing::HasSubstr("ambit-control: CreateCertificate via unix:"));
  EXPECT_THAT(issued.error().message,
              ::testing::HasSubstr("(the channel to the server is failing to connect)"));

  // A deadline too close to forward within (under the margin): refused at once.
  auto late = signer->sign(csr->csrPem, 1h, identity::testing::allowAll(),
                           std::chrono::system_clock::now() + 500ms);
  ASSERT_FALSE(late);
  EXPECT_THAT(late.error().message, ::testing::HasSubstr("leaves no time for an answer"));
}

}  // namespace
}  // namespace ambit::agent
