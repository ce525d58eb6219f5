// ambit-control's one port: the CertificateService shares the DiscoveryServer's gRPC server,
// and CaClient reaches it through the control-plane channel (TLS + bearer token).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

#include "common/discovery/channel.h"
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

// A loopback port held by a bound, not listening socket (connections to it are refused), with
// SO_REUSEPORT so that a gRPC server (which sets it too) can listen there later: no other
// process can take the port in between.
class ReservedPort {
 public:
  ReservedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int on = 1;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ReservedPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  uint16_t port() const { return port_; }  // 0: none could be reserved

 private:
  int fd_;
  uint16_t port_ = 0;
};

// The agent's CSR proxy during an ambit-control roll: a call made while nothing answers at the
// control address is answered once the new replica is up, within the call's deadline, instead
// of failing at once (the ztunnel would back off for seconds, its pods without certificates).
TEST(SharedPort, CertificateClientWaitsForControlWithinTheDeadline) {
  test::TempDir dir("discovery-ca-wait");
  Tls tls(dir);
  std::shared_ptr<identity::EmbeddedCa> ca = identity::testing::openCa(dir.path() / "ca");
  ASSERT_TRUE(ca);
  identity::CertificateServiceImpl certificates(
      ca, [](const identity::SpiffeId&, std::string_view) { return Status::ok(); });
  ReservedPort reserved;
  ASSERT_NE(reserved.port(), 0) << "no loopback port: " << std::strerror(errno);
  const std::string address = fmt::format("127.0.0.1:{}", reserved.port());
  auto client = certificateClient(address, {.control_ca = tls.ca_file.string(),
                                            .token_file = tls.token_file.string(),
                                            .node = "node-1"});
  ASSERT_TRUE(client) << client.error().message;
  auto id = identity::SpiffeId::make("cluster.local", "default", "my-app");
  ASSERT_TRUE(id);
  auto csr = identity::createWorkloadCsr(*id);
  ASSERT_TRUE(csr);

  auto issued = std::async(std::launch::async, [&] {
    return (*client)->createCertificate(csr->csrPem, std::chrono::hours(1));
  });
  // Refused connections first: the channel is in its reconnect backoff when the server comes.
  ASSERT_EQ(issued.wait_for(std::chrono::milliseconds(1500)), std::future_status::timeout)
      << "the call ended before ambit-control was up";
  auto store = std::make_shared<ResourceStore>();
  auto server =
      startServer(store, {.address = address,
                          .tls = tls.serverTls(),
                          .authenticator = std::make_shared<TokenAuthenticator>("token-1"),
                          .extra_services = {&certificates}});
  ASSERT_TRUE(server);
  auto result = issued.get();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->rootsPem, std::vector<std::string>{ca->rootPem()});
}

}  // namespace
}  // namespace ambit::discovery
