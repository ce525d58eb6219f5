// ambit-control's one port: the CertificateService shares the DiscoveryServer's gRPC server,
// and CaClient reaches it through the control-plane channel (TLS + bearer token).

#include <gtest/gtest.h>

#include "common/identity/ca_client.h"
#include "common/identity/ca_service.h"
#include "common/identity/csr.h"
#include "tests/unit/discovery/test_util.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

TEST(SharedPort, CertificateServiceAndDiscoveryOnOneTlsPort) {
  test::TempDir dir("discovery-ca");
  Tls tls(dir);
  std::shared_ptr<identity::EmbeddedCa> ca = identity::testing::openCa(dir.path() / "ca");
  ASSERT_TRUE(ca);
  identity::CertificateServiceImpl certificates(
      ca, [](const identity::SpiffeId&, std::string_view node) {
        return node == "node-1" ? Status::ok() : Status(makeError("unknown node {}", node));
      });
  auto store = std::make_shared<ResourceStore>();
  putWorkload(*store, workload("a"));
  auto server =
      startServer(store, {.address = "127.0.0.1:0",
                          .tls = tls.serverTls(),
                          .authenticator = std::make_shared<TokenAuthenticator>("token-1"),
                          .extra_services = {&certificates}});
  ASSERT_TRUE(server);

  auto channel = makeControlChannel(
      {.address = server->address(), .control_ca = tls.ca_file, .token_file = tls.token_file});
  ASSERT_TRUE(channel) << channel.error().message;
  identity::CaClient client(
      {.address = server->address(), .node = "node-1", .timeout = kWait, .channel = *channel});
  auto id = identity::SpiffeId::make("cluster.local", "default", "my-app");
  ASSERT_TRUE(id);
  auto csr = identity::createWorkloadCsr(*id);
  ASSERT_TRUE(csr);
  auto issued = client.createCertificate(csr->csrPem, std::chrono::hours(1));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->rootsPem, std::vector<std::string>{ca->rootPem()});

  RawClient discovery(*channel);
  ASSERT_TRUE(discovery.subscribe(MeshType::kWorkload));
  EXPECT_EQ(namesOf(discovery.read()), std::vector<std::string>{"default/a"});
}

}  // namespace
}  // namespace ambit::discovery
