// The HBONE data path in one process, over loopback, without the lab: an HboneClientPool and an
// HboneServer (TLS 1.3, HTTP/2 CONNECT) between an "app" TCP socket and a TCP sink, both ends
// spliced exactly as the two ztunnels splice them (HboneStream::splice).
//
//   build/bench/tunnel_bench idle [--tunnels N]   memory per idle tunnel: N tunnels established
//       end to end (a greeting byte crossed each), then the heap in use (mallinfo2) and VmRSS
//       growth divided by N. Both ztunnel roles live in this process: the figure is the sum of
//       the client side and the server side (plus the test's own app and sink sockets).
//   build/bench/tunnel_bench bulk [--mib M] [--streams S]   M MiB app -> tunnel -> sink over S
//       tunnels at once: wall time, CPU seconds per GB (this process: both proxies), and the
//       write(2)/sendmsg(2) calls per MiB are left to `strace -c -f`.
#include <malloc.h>
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/async/spawn.h"
#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "tests/support/test_pki.h"

namespace ambit::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kUse = asio::use_awaitable;
constexpr char kTrustDomain[] = "cluster.local";
constexpr char kServerId[] = "spiffe://cluster.local/ns/server/sa/srv";
constexpr char kClientId[] = "spiffe://cluster.local/ns/client/sa/cli";

long rssKiB() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      in >> kib;
      return kib;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

size_t heapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Both proxies, an app listener and a sink, on one io_context.
struct Bench {
  asio::io_context ioc;
  test::TestPki pki{"tunnel bench CA"};
  test::CertKey server_cert = pki.issue(kServerId);
  test::CertKey client_cert = pki.issue(kClientId);
  std::shared_ptr<asio::ssl::context> server_tls = test::makeContext(&server_cert, pki.caPem());
  std::shared_ptr<asio::ssl::context> client_tls = test::makeContext(&client_cert, pki.caPem());
  std::unique_ptr<hbone::HboneServer> server;
  std::unique_ptr<hbone::HboneClientPool> pool;
  tcp::acceptor sink{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::acceptor app{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::endpoint server_address;
  std::vector<std::unique_ptr<tcp::socket>> held;  // idle: sockets kept open
  uint64_t sunk = 0;

  Bench() {
    server = std::make_unique<hbone::HboneServer>(
        ioc.get_executor(), *server_tls, test::spiffeVerifier(kTrustDomain),
        [this](const hbone::ConnectRequest& req) -> asio::awaitable<hbone::ConnectOutcome> {
          tcp::socket upstream(ioc);
          error_code ec;
          co_await upstream.async_connect(req.target, asio::redirect_error(kUse, ec));
          if (ec) co_return 503;
          co_return std::move(upstream);
        });
    tcp::acceptor listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    server_address = listener.local_endpoint();
    if (Status st = server->listen(std::move(listener)); !st) {
      std::fprintf(stderr, "listen: %s\n", st.message().c_str());
      std::exit(1);
    }
    pool = std::make_unique<hbone::HboneClientPool>(ioc.get_executor(),
                                                    test::spiffeVerifier(kTrustDomain));
  }

  hbone::Destination destination() const {
    hbone::Destination d;
    d.source_identity = kClientId;
    d.tls = client_tls;
    d.address = server_address;
    d.expected_server_ids = {kServerId};
    return d;
  }

  // The client ztunnel's part: an accepted app socket spliced into a new tunnel to the sink.
  asio::awaitable<void> proxy(tcp::socket app_side) {
    hbone::TunnelRequest req;
    req.authority = "127.0.0.1:" + std::to_string(sink.local_endpoint().port());
    auto tunnel = co_await pool->connect(destination(), req);
    if (!tunnel) {
      std::fprintf(stderr, "connect: %s\n", tunnel.error().message.c_str());
      std::exit(1);
    }
    tunnel->splice(std::move(app_side), nullptr);
  }

  asio::awaitable<void> acceptApps() {
    for (;;) {
      error_code ec;
      tcp::socket s = co_await app.async_accept(asio::redirect_error(kUse, ec));
      if (ec) co_return;
      spawn(ioc, proxy(std::move(s)), "bench proxy");
    }
  }

  // Idle sink: greets, then holds the socket. Bulk sink: counts until EOF.
  asio::awaitable<void> acceptSinks(bool greet) {
    for (;;) {
      error_code ec;
      auto s =
          std::make_unique<tcp::socket>(co_await sink.async_accept(asio::redirect_error(kUse, ec)));
      if (ec) co_return;
      if (greet) {
        co_await asio::async_write(*s, asio::buffer("g", 1), asio::redirect_error(kUse, ec));
        held.push_back(std::move(s));
      } else {
        spawn(ioc, drain(std::move(s)), "bench sink");
      }
    }
  }

  asio::awaitable<void> drain(std::unique_ptr<tcp::socket> s) {
    std::vector<char> buf(256 << 10);
    error_code ec;
    while (!ec)
      sunk += co_await s->async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
  }

  template <typename Body>
  void runUntilDone(Body body) {
    bool done = false;
    asio::co_spawn(ioc, body(), [&](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      done = true;
    });
    while (!done) ioc.run_one();
  }
};

int idle(int tunnels) {
  Bench b;
  spawn(b.ioc, b.acceptApps(), "bench apps");
  spawn(b.ioc, b.acceptSinks(true), "bench sinks");
  auto open = [&](int n) {
    b.runUntilDone([&]() -> asio::awaitable<void> {
      for (int i = 0; i < n; ++i) {
        auto c = std::make_unique<tcp::socket>(b.ioc);
        co_await c->async_connect(b.app.local_endpoint(), kUse);
        char g = 0;
        co_await asio::async_read(*c, asio::buffer(&g, 1), kUse);
        b.held.push_back(std::move(c));
      }
    });
  };
  open(200);  // warm-up: the first HBONE connections, allocator caches
  malloc_trim(0);
  const size_t heap0 = heapInUse();
  const long rss0 = rssKiB();
  const size_t held0 = b.held.size();
  open(tunnels);
  malloc_trim(0);
  const double heap_per = static_cast<double>(heapInUse() - heap0) / tunnels;
  const double rss_per = static_cast<double>(rssKiB() - rss0) * 1024 / tunnels;
  std::printf(
      "idle tunnels: %d (after 200 warm-up), HBONE connections %zu, test sockets %zu\n"
      "heap in use per tunnel: %.0f bytes (both proxies + 2 test sockets)\n"
      "RSS per tunnel: %.0f bytes (%.2f MB per 1,000)\n",
      tunnels, b.pool->stats().connections, b.held.size() - held0, heap_per, rss_per,
      rss_per * 1000 / 1e6);
  return 0;
}

int bulk(int mib, int streams) {
  Bench b;
  spawn(b.ioc, b.acceptApps(), "bench apps");
  spawn(b.ioc, b.acceptSinks(false), "bench sinks");
  const uint64_t per_stream = static_cast<uint64_t>(mib) << 20;
  const uint64_t total = per_stream * streams;
  std::vector<std::unique_ptr<tcp::socket>> clients;
  b.runUntilDone([&]() -> asio::awaitable<void> {
    for (int i = 0; i < streams; ++i) {
      clients.push_back(std::make_unique<tcp::socket>(b.ioc));
      co_await clients.back()->async_connect(b.app.local_endpoint(), kUse);
    }
  });
  const size_t heap0 = heapInUse();
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpuSeconds();
  for (auto& c : clients) {
    asio::co_spawn(
        b.ioc,
        [&, s = c.get()]() -> asio::awaitable<void> {
          std::vector<char> chunk(128 << 10, 'x');
          for (uint64_t sent = 0; sent < per_stream; sent += chunk.size()) {
            co_await asio::async_write(*s, asio::buffer(chunk), kUse);
          }
          s->shutdown(tcp::socket::shutdown_send);
        },
        asio::detached);
  }
  while (b.sunk < total) b.ioc.run_one();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpuSeconds() - cpu0;
  // What stays allocated once every tunnel is closed again (caches, connection state).
  for (auto& c : clients) c->close();
  b.ioc.run_for(std::chrono::milliseconds(500));
  std::printf("heap in use: %.2f MB before the transfer, %.2f MB after (tunnels closed)\n",
              static_cast<double>(heap0) / 1e6, static_cast<double>(heapInUse()) / 1e6);
  std::printf("bulk: %d MiB x %d streams in %.2f s = %.2f Gbit/s, CPU %.2f s = %.2f CPU-s/GB\n",
              mib, streams, secs, static_cast<double>(total) * 8 / secs / 1e9, cpu,
              cpu / (static_cast<double>(total) / 1e9));
  return 0;
}

}  // namespace
}  // namespace ambit::bench

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  auto arg = [&](const char* name, int def) {
    for (int i = 2; i + 1 < argc; ++i) {
      if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
    }
    return def;
  };
  if (mode == "idle") return ambit::bench::idle(arg("--tunnels", 2000));
  if (mode == "bulk") return ambit::bench::bulk(arg("--mib", 1024), arg("--streams", 1));
  std::fprintf(stderr, "usage: tunnel_bench idle [--tunnels N] | bulk [--mib M] [--streams S]\n");
  return 2;
}
