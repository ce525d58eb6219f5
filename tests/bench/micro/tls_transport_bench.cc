// HBONE's TLS transport in one process over loopback TCP: hbone::TlsTransport (OpenSSL driven
// directly) against the http2::AsioStreamTransport<asio::ssl::stream> it replaced. Both ends run
// on this thread, so the CPU time Google Benchmark reports is both ends' TLS, copies and
// syscalls (and the loopback TCP work the kernel charges to them):
//   Bulk:     1 MiB per iteration, written in 64 KiB batches (the HTTP/2 core's write size),
//             read 32 KiB at a time (its read size). bytes_per_second is the throughput.
//   PingPong: 1 KiB each way per iteration, request/response traffic, where TlsTransport frees
//             its idle buffers at every pause.
//   build/bench/tls_transport_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/hbone/tls.h"
#include "common/hbone/tls_transport.h"
#include "common/http2/asio_transport.h"
#include "tests/support/test_pki.h"

namespace ambit::hbone {
namespace {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator&&;
using tcp = asio::ip::tcp;
using AsioTls = asio::ssl::stream<tcp::socket>;
constexpr auto kUse = asio::use_awaitable;

struct Fixture {
  asio::io_context ioc;
  test::TestPki pki{"bench CA"};
  test::CertKey server_cert = pki.issue("spiffe://cluster.local/ns/s/sa/s");
  test::CertKey client_cert = pki.issue("spiffe://cluster.local/ns/c/sa/c");
  std::shared_ptr<asio::ssl::context> server_ctx = test::makeContext(&server_cert, pki.caPem());
  std::shared_ptr<asio::ssl::context> client_ctx = test::makeContext(&client_cert, pki.caPem());
  PeerVerification client_verification{test::spiffeVerifier("cluster.local")};
  PeerVerification server_verification{test::spiffeVerifier("cluster.local")};
  std::unique_ptr<http2::Transport> client;
  std::unique_ptr<http2::Transport> server;

  void run(asio::awaitable<void> work) {
    std::exception_ptr failure;
    asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e) { failure = e; });
    ioc.restart();
    ioc.run();
    if (failure) std::rethrow_exception(failure);
  }

  asio::awaitable<std::pair<tcp::socket, tcp::socket>> sockets() {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client_socket(ioc);
    tcp::socket accepted = co_await (acceptor.async_accept(kUse) &&
                                     client_socket.async_connect(acceptor.local_endpoint(), kUse));
    client_socket.set_option(tcp::no_delay(true));
    accepted.set_option(tcp::no_delay(true));
    co_return std::make_pair(std::move(client_socket), std::move(accepted));
  }

  void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
  }

  asio::awaitable<void> connectDirect() {
    auto [c, s] = co_await sockets();
    auto ct = TlsTransport::create(std::move(c), client_ctx->native_handle(),
                                   TlsTransport::Side::kClient);
    auto st = TlsTransport::create(std::move(s), server_ctx->native_handle(),
                                   TlsTransport::Side::kServer);
    check(ct && st, "TlsTransport::create");
    check(client_verification.attach((*ct)->ssl()) && server_verification.attach((*st)->ssl()),
          "attach");
    auto [a, b] = co_await ((*ct)->handshake() && (*st)->handshake());
    check(a && b, "handshake");
    client = std::move(*ct);
    server = std::move(*st);
  }

  asio::awaitable<void> connectAsio() {
    auto [c, s] = co_await sockets();
    AsioTls ct(std::move(c), *client_ctx);
    AsioTls st(std::move(s), *server_ctx);
    check(client_verification.attach(ct.native_handle()) &&
              server_verification.attach(st.native_handle()),
          "attach");
    co_await (ct.async_handshake(AsioTls::client, kUse) &&
              st.async_handshake(AsioTls::server, kUse));
    client = std::make_unique<http2::AsioStreamTransport<AsioTls>>(std::move(ct));
    server = std::make_unique<http2::AsioStreamTransport<AsioTls>>(std::move(st));
  }
};

asio::awaitable<void> writeAll(http2::Transport& t, const std::vector<char>& data, size_t batch) {
  for (size_t at = 0; at < data.size(); at += batch) {
    Status st = co_await t.write(asio::buffer(data.data() + at, batch));
    if (!st) throw std::runtime_error(st.message());
  }
}

asio::awaitable<void> readExactly(http2::Transport& t, std::vector<char>& buf, size_t total) {
  size_t got = 0;
  while (got < total) {
    auto n = co_await t.read(asio::buffer(buf.data(), std::min(buf.size(), total - got)));
    if (!n || *n == 0) throw std::runtime_error("read ended early");
    got += *n;
  }
}

void bulk(benchmark::State& state, bool direct) {
  Fixture f;
  f.run(direct ? f.connectDirect() : f.connectAsio());
  const std::vector<char> data(1 << 20, 'x');
  std::vector<char> buf(32 << 10);
  for (auto _ : state) {
    f.run([&]() -> asio::awaitable<void> {
      co_await (writeAll(*f.client, data, 64 << 10) && readExactly(*f.server, buf, data.size()));
    }());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
}

void pingPong(benchmark::State& state, bool direct) {
  Fixture f;
  f.run(direct ? f.connectDirect() : f.connectAsio());
  const std::vector<char> msg(1024, 'p');
  std::vector<char> buf(32 << 10);
  for (auto _ : state) {
    f.run([&]() -> asio::awaitable<void> {
      co_await (writeAll(*f.client, msg, msg.size()) && readExactly(*f.server, buf, msg.size()));
      co_await (writeAll(*f.server, msg, msg.size()) && readExactly(*f.client, buf, msg.size()));
    }());
  }
}

void BM_Bulk_TlsTransport(benchmark::State& state) { bulk(state, true); }
void BM_Bulk_AsioSsl(benchmark::State& state) { bulk(state, false); }
void BM_PingPong_TlsTransport(benchmark::State& state) { pingPong(state, true); }
void BM_PingPong_AsioSsl(benchmark::State& state) { pingPong(state, false); }
BENCHMARK(BM_Bulk_TlsTransport);
BENCHMARK(BM_Bulk_AsioSsl);
BENCHMARK(BM_PingPong_TlsTransport);
BENCHMARK(BM_PingPong_AsioSsl);

}  // namespace
}  // namespace ambit::hbone
