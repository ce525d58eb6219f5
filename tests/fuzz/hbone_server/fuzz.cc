// Fuzzes the HBONE server (common/hbone/server.h) with the decrypted HTTP/2 a client sends
// after the TLS handshake: the input follows the client connection preface and is served by
// HboneServer::serveSession(), the path every accepted connection takes in the ztunnel and the
// waypoint. The CONNECT handler covers the three outcomes the ztunnel's inbound proxy returns:
//   :authority port 15001 -> spliced to a connected socket (a socketpair; the far end sends a
//                            greeting and stays open), as inbound traffic to a pod is;
//   port 15002            -> refused with 401 (an L4 policy deny);
//   any other port        -> terminated in process: the tunnel is read and echoed back.
// After the input is consumed the client ends its direction, then the server is closed.
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>

#include "common/hbone/server.h"
#include "common/log.h"
#include "tests/fuzz/support/h2_frames.h"
#include "tests/fuzz/support/memory_transport.h"

namespace {

using namespace ambit;
using boost::asio::ip::tcp;

asio::awaitable<void> echo(hbone::HboneStream stream) {
  char buf[4096];
  for (;;) {
    auto n = co_await stream.read(asio::buffer(buf));
    if (!n || *n == 0) break;
    if (!co_await stream.write(asio::buffer(buf, *n))) break;
  }
  stream.shutdownWrite();
}

struct Harness {
  asio::io_context io;
  int far_end = -1;  // the spliced socket's peer, owned here

  ~Harness() {
    if (far_end >= 0) ::close(far_end);
  }

  asio::awaitable<hbone::ConnectOutcome> onConnect(const hbone::ConnectRequest& req) {
    switch (req.target.port()) {
      case 15001: {
        int fds[2];
        if (far_end >= 0 || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
          co_return 503;
        }
        far_end = fds[1];
        (void)!::write(far_end, "greeting", 8);
        tcp::socket upstream(io);
        boost::system::error_code ec;
        upstream.assign(tcp::v4(), fds[0], ec);
        if (ec) co_return 503;
        co_return hbone::ConnectOutcome(std::move(upstream));
      }
      case 15002:
        co_return 401;
      default:
        co_return hbone::TerminateTunnel{echo};
    }
  }
};

asio::ssl::context& serverContext() {
  static asio::ssl::context ctx(asio::ssl::context::tls_server);
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", "off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  auto feed = std::make_shared<fuzz::MemoryFeed>(h.io.get_executor());
  feed->input = std::string(fuzz::kClientPreface);
  feed->input.append(reinterpret_cast<const char*>(data), size);
  {
    hbone::ServerOptions options;
    options.http2.max_header_list_size = 4096;  // small, so the limit is reachable
    hbone::HboneServer server(
        h.io.get_executor(), serverContext(),
        [](X509*, STACK_OF(X509)*) -> Result<std::string> { return std::string("unused"); },
        [&h](const hbone::ConnectRequest& req) { return h.onConnect(req); }, options);
    server.serveSession(std::make_unique<fuzz::MemoryTransport>(feed),
                        tcp::endpoint(asio::ip::make_address("10.1.2.3"), 40000),
                        "spiffe://cluster.local/ns/default/sa/client");
    fuzz::runUntilIdle(h.io);
    feed->endInput();
    fuzz::runUntilIdle(h.io);
    server.close();
    fuzz::runUntilIdle(h.io);
  }
  fuzz::runUntilIdle(h.io);
  return 0;
}
