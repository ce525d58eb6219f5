#pragma once
// Shared fixture for the HBONE tests: a test PKI, an HboneServer on 127.0.0.1:0, two upstream
// TCP servers (echo, and "summary" which answers "got <n>" after the client's EOF), and a
// driver that runs a coroutine on the fixture's io_context with a deadline. Loopback only.

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "tests/support/test_pki.h"

// gtest's ASSERT_* return from void functions; coroutines need co_return.
#define CO_ASSERT(cond)                          \
  if (!(cond)) {                                 \
    ADD_FAILURE() << "assertion failed: " #cond; \
    co_return;                                   \
  } else                                         \
    (void)0
#define CO_ASSERT_OK(r)                                     \
  if (!(r)) {                                               \
    ADD_FAILURE() << #r " failed: " << (r).error().message; \
    co_return;                                              \
  } else                                                    \
    (void)0

namespace ambit::hbone::testing {

// The test PKI (tests/support/test_pki.h) by the names these tests use.
using test::CertKey;
using test::makeContext;
using test::spiffeVerifier;
using test::TestPki;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline constexpr char kTrustDomain[] = "cluster.local";
inline constexpr char kServerId[] = "spiffe://cluster.local/ns/server/sa/srv";
inline constexpr char kClientId[] = "spiffe://cluster.local/ns/client/sa/cli";

using UpstreamSession = std::function<asio::awaitable<void>(tcp::socket)>;

class HboneFixture : public ::testing::Test {
 protected:
  HboneFixture();
  ~HboneFixture() override;

  // Serves HBONE on 127.0.0.1:`port` (0: any free port) as server_, server_address_.
  void startServer(ServerOptions options = {}, uint16_t port = 0);
  std::unique_ptr<HboneClientPool> makePool(PoolOptions options = {});
  // Client cert kClientId, the server's address, expecting kServerId.
  Destination destination() const;
  TunnelRequest request(uint16_t upstream_port) const;
  // Runs `body` on the io_context until it completes; fails the test after `timeout`.
  void run(std::function<asio::awaitable<void>()> body, std::chrono::seconds timeout = 30s);
  asio::awaitable<void> sleep(std::chrono::milliseconds d);
  // Reads from `stream` until END_STREAM; returns everything (or error text prefixed "ERR:").
  asio::awaitable<std::string> readAll(HboneStream& stream);
  // Another upstream TCP server on 127.0.0.1:0 running `session` per connection; the connect
  // handler accepts tunnels to its port.
  uint16_t startUpstream(UpstreamSession session);

  asio::io_context ioc_;
  TestPki pki_{"ambit test CA"};
  CertKey server_cert_;
  CertKey client_cert_;
  std::shared_ptr<asio::ssl::context> server_tls_;
  std::shared_ptr<asio::ssl::context> client_tls_;
  std::unique_ptr<HboneServer> server_;
  tcp::endpoint server_address_;
  uint16_t echo_port_ = 0;
  uint16_t summary_port_ = 0;
  std::vector<ConnectRequest> requests_;  // what the connect handler saw
  std::vector<SpliceResult> tunnels_;     // finished server-side tunnels (on_tunnel_closed)
  // Set: the connect handler answers with a SpliceTo whose on_closed adds to spliced_to_.
  bool answer_splice_to_ = false;
  std::vector<SpliceResult> spliced_to_;

 private:
  asio::awaitable<ConnectOutcome> handleConnect(const ConnectRequest& req);
  std::vector<std::shared_ptr<tcp::acceptor>> upstreams_;
  std::vector<uint16_t> upstream_ports_;
};

}  // namespace ambit::hbone::testing
