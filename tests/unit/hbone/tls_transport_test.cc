// TlsTransport (common/hbone/tls_transport.h): two transports over loopback TCP with the test
// PKI — handshake and verification failures with their reasons, bulk and small transfers
// (with the number of send() calls), small request/response exchanges that wait without an
// EAGAIN recv first (and bytes that arrive before such a wait), which connections keep their
// data buffers between messages (and what a released one keeps: bytes in flight), tiny socket
// buffers so every wait path runs, the three ways a connection ends (close_notify, a bare FIN,
// finish()'s linger), reads after the end, and close() during a handshake.

#include "common/hbone/tls_transport.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "common/hbone/tls.h"
#include "tests/support/run_coroutine.h"
#include "tests/support/test_pki.h"

namespace ambit::hbone {
namespace {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator&&;
using asio::experimental::awaitable_operators::operator||;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using test::CertKey;
using test::makeContext;
using test::spiffeVerifier;
using test::TestPki;
using namespace std::chrono_literals;

constexpr auto kUse = asio::use_awaitable;
constexpr char kTrustDomain[] = "cluster.local";
constexpr char kServerId[] = "spiffe://cluster.local/ns/server/sa/srv";
constexpr char kClientId[] = "spiffe://cluster.local/ns/client/sa/cli";

// One end of a connection: the transport and the verification state its SSL points at.
struct End {
  std::unique_ptr<TlsTransport> tls;
  std::unique_ptr<PeerVerification> verification = std::make_unique<PeerVerification>();
  Status handshake;
};

struct Pair {
  End client;
  End server;
};

// A byte pattern that shows misordered or lost bytes.
std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

class TlsTransportTest : public ::testing::Test {
 protected:
  TlsTransportTest() {
    server_ctx_ = makeContext(&server_cert_, pki_.caPem());
    client_ctx_ = makeContext(&client_cert_, pki_.caPem());
    EXPECT_TRUE(configureServerContext(server_ctx_->native_handle()));
  }

  void run(const std::function<asio::awaitable<void>()>& body) { test::runCoroutine(ioc_, body); }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(ioc_, d);
    error_code ec;
    co_await t.async_wait(asio::redirect_error(kUse, ec));
  }

  // A connected loopback pair; `small_buffers` shrinks the client's send buffer and the
  // server's receive buffer to the kernel's minimum so writes and reads keep waiting.
  asio::awaitable<std::pair<tcp::socket, tcp::socket>> sockets(bool small_buffers) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    if (small_buffers) acceptor.set_option(asio::socket_base::receive_buffer_size(4096));
    tcp::socket client(ioc_);
    client.open(tcp::v4());
    if (small_buffers) client.set_option(asio::socket_base::send_buffer_size(4096));
    tcp::socket accepted = co_await (acceptor.async_accept(kUse) &&
                                     client.async_connect(acceptor.local_endpoint(), kUse));
    co_return std::make_pair(std::move(client), std::move(accepted));
  }

  // Both ends with their verification attached (the client expects `expected_server`).
  asio::awaitable<Pair> makePair(std::shared_ptr<asio::ssl::context> client_ctx,
                                 std::string expected_server, bool small_buffers = false,
                                 std::chrono::milliseconds linger = 1s) {
    auto [client_socket, server_socket] = co_await sockets(small_buffers);
    Pair p;
    auto client = TlsTransport::create(std::move(client_socket), client_ctx->native_handle(),
                                       TlsTransport::Side::kClient, linger);
    auto server = TlsTransport::create(std::move(server_socket), server_ctx_->native_handle(),
                                       TlsTransport::Side::kServer, linger);
    EXPECT_TRUE(client && server);
    p.client.tls = std::move(*client);
    p.server.tls = std::move(*server);
    p.client.verification->verifier = spiffeVerifier(kTrustDomain);
    p.client.verification->expected_ids = {std::move(expected_server)};
    p.server.verification->verifier = spiffeVerifier(kTrustDomain);
    EXPECT_TRUE(p.client.verification->attach(p.client.tls->ssl()));
    EXPECT_TRUE(offerAlpnH2(p.client.tls->ssl()));
    EXPECT_TRUE(p.server.verification->attach(p.server.tls->ssl()));
    co_return p;
  }

  asio::awaitable<Pair> handshaken(std::shared_ptr<asio::ssl::context> client_ctx,
                                   std::string expected_server, bool small_buffers = false,
                                   std::chrono::milliseconds linger = 1s) {
    Pair p =
        co_await makePair(std::move(client_ctx), std::move(expected_server), small_buffers, linger);
    std::tie(p.client.handshake, p.server.handshake) =
        co_await (p.client.tls->handshake() && p.server.tls->handshake());
    co_return p;
  }

  // Reads exactly `size` bytes (or until the end or an error) with reads of `chunk` bytes.
  static asio::awaitable<std::string> readSome(TlsTransport& t, size_t size, size_t chunk) {
    std::string got;
    std::vector<char> buf(chunk);
    while (got.size() < size) {
      auto n = co_await t.read(asio::buffer(buf.data(), std::min(chunk, size - got.size())));
      if (!n || *n == 0) break;
      got.append(buf.data(), *n);
    }
    co_return got;
  }

  // One handshaken pair more than the warm set holds (its two ends are two members); empty if
  // a handshake failed.
  static constexpr size_t kPairs = TlsTransport::kWarmConnections / 2 + 1;
  asio::awaitable<std::vector<Pair>> oneWarmSetTooMany() {
    std::vector<Pair> pairs;
    for (size_t i = 0; i < kPairs; ++i) {
      pairs.push_back(co_await handshaken(client_ctx_, kServerId));
      EXPECT_TRUE(pairs.back().client.handshake && pairs.back().server.handshake);
      if (!(pairs.back().client.handshake && pairs.back().server.handshake)) {
        co_return std::vector<Pair>();
      }
    }
    co_return pairs;
  }

  // oneWarmSetTooMany() after a request and a response on each pair in turn (exchange()): the
  // first pair's two ends are out of the set now; empty if anything failed.
  asio::awaitable<std::vector<Pair>> overflowedWarmSet(const std::string& request,
                                                       const std::string& response) {
    std::vector<Pair> pairs = co_await oneWarmSetTooMany();
    for (Pair& p : pairs) {
      if (!co_await exchange(p, request, response)) co_return std::vector<Pair>();
    }
    co_return pairs;
  }

  // A handshaken pair whose client has written `bytes`; nullopt (the failure reported) if the
  // handshake or the write failed.
  asio::awaitable<std::optional<Pair>> handshakenAndSent(const std::string& bytes) {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return std::nullopt;
    Status sent = co_await p.client.tls->write(asio::buffer(bytes));
    EXPECT_TRUE(sent) << sent.message();
    if (!sent) co_return std::nullopt;
    co_return std::optional<Pair>(std::move(p));
  }

  // Writes `msg` a moment later, so that its reader is waiting on the socket by then (as over
  // a network).
  asio::awaitable<Status> writeLater(TlsTransport& t, const std::string& msg) {
    co_await sleep(1ms);
    co_return co_await t.write(asio::buffer(msg));
  }

  // A request and its response, each read by a transport that waits for it.
  asio::awaitable<bool> exchange(Pair& p, const std::string& request, const std::string& response) {
    auto [got, sent] = co_await (readSome(*p.server.tls, request.size(), 64 << 10) &&
                                 writeLater(*p.client.tls, request));
    EXPECT_TRUE(sent && got == request);
    auto [back, answered] = co_await (readSome(*p.client.tls, response.size(), 64 << 10) &&
                                      writeLater(*p.server.tls, response));
    EXPECT_TRUE(answered && back == response);
    const bool ok = sent && got == request && answered && back == response;
    co_return ok;
  }

  static asio::awaitable<Status> writeAll(TlsTransport& t, const std::string& data, size_t batch) {
    for (size_t at = 0; at < data.size(); at += batch) {
      AMBIT_CO_TRY(
          co_await t.write(asio::buffer(data.data() + at, std::min(batch, data.size() - at))));
    }
    co_return Status::ok();
  }

  asio::io_context ioc_;
  TestPki pki_{"ambit test CA"};
  CertKey server_cert_ = pki_.issue(kServerId);
  CertKey client_cert_ = pki_.issue(kClientId);
  std::shared_ptr<asio::ssl::context> server_ctx_;
  std::shared_ptr<asio::ssl::context> client_ctx_;
};

TEST_F(TlsTransportTest, HandshakeVerifiesBothIdentitiesOverTls13WithH2) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake) << p.client.handshake.message();
    if (!(p.client.handshake)) co_return;
    EXPECT_TRUE(p.server.handshake) << p.server.handshake.message();
    if (!(p.server.handshake)) co_return;
    EXPECT_EQ(p.client.verification->identity, kServerId);
    EXPECT_EQ(p.server.verification->identity, kClientId);
    EXPECT_EQ(SSL_version(p.client.tls->ssl()), TLS1_3_VERSION);
    EXPECT_EQ(negotiatedAlpn(p.client.tls->ssl()), "h2");
    EXPECT_EQ(negotiatedAlpn(p.server.tls->ssl()), "h2");
  });
}

TEST_F(TlsTransportTest, SmallAndLargeWritesArriveIntactWithOneSendPerBatch) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    // Small writes both ways.
    for (const std::string& msg :
         {std::string("x"), std::string("hello"), std::string(1000, 'm')}) {
      Status sent = co_await p.client.tls->write(asio::buffer(msg));
      EXPECT_TRUE(sent) << sent.message();
      if (!sent) co_return;
      EXPECT_EQ(co_await readSome(*p.server.tls, msg.size(), 64 << 10), msg);
      sent = co_await p.server.tls->write(asio::buffer(msg));
      EXPECT_TRUE(sent) << sent.message();
      if (!sent) co_return;
      EXPECT_EQ(co_await readSome(*p.client.tls, msg.size(), 64 << 10), msg);
    }
    // 4 MiB in 64 KiB batches (four TLS records each), read 32 KiB at a time.
    const std::string bulk = pattern(4 << 20);
    const uint64_t sends_before = p.client.tls->stats().sends;
    const uint64_t waits_before = p.client.tls->stats().write_waits;
    auto [written, received] = co_await (writeAll(*p.client.tls, bulk, 64 << 10) &&
                                         readSome(*p.server.tls, bulk.size(), 32 << 10));
    EXPECT_TRUE(written) << written.message();
    if (!(written)) co_return;
    EXPECT_TRUE(received == bulk) << "received " << received.size() << " bytes, not the pattern";
    // One send() per batch, plus one per time the socket buffer was full.
    const uint64_t sends = p.client.tls->stats().sends - sends_before;
    const uint64_t waits = p.client.tls->stats().write_waits - waits_before;
    EXPECT_LE(sends, 2 * (64u + waits)) << waits << " waits";  // asio::ssl: 4 per batch
  });
}

// Request/response traffic: a small recv that leaves room in the buffer emptied the socket, so
// the next read waits for readability instead of first calling recv() only to get EAGAIN.
TEST_F(TlsTransportTest, SmallExchangesWaitWithoutAnEmptyRecvFirst) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    const uint64_t client_empty = p.client.tls->stats().empty_recvs;
    const uint64_t server_empty = p.server.tls->stats().empty_recvs;
    const uint64_t server_waits = p.server.tls->stats().read_waits;
    constexpr int kExchanges = 50;
    const std::string request = pattern(300);
    const std::string response = pattern(1200);
    for (int i = 0; i < kExchanges; ++i) {
      const bool ok = co_await exchange(p, request, response);
      EXPECT_TRUE(ok) << "exchange " << i;
      if (!ok) co_return;
    }
    // Each read found the socket empty (its message was not sent yet) and waited, ...
    EXPECT_GE(p.server.tls->stats().read_waits - server_waits, uint64_t{kExchanges});
    // ... without an EAGAIN first (a few are allowed for a record's bytes arriving in two parts).
    EXPECT_LE(p.server.tls->stats().empty_recvs - server_empty, 2u);
    EXPECT_LE(p.client.tls->stats().empty_recvs - client_empty, 2u);
  });
}

// A connection carrying requests allocates its data buffers once, not at every message
// (BENCHMARKS.md, session 24); after a bulk transfer, the first small messages take it back to
// the small buffers.
TEST_F(TlsTransportTest, AWarmConnectionKeepsItsBuffersAndDropsABulkTransfersOnes) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    const TlsTransport::Stats client = p.client.tls->stats();
    const TlsTransport::Stats server = p.server.tls->stats();
    const std::string request = pattern(300);
    const std::string response = pattern(1200);
    for (int i = 0; i < 30; ++i) {
      if (!co_await exchange(p, request, response)) co_return;
    }
    for (End* end : {&p.client, &p.server}) {
      const TlsTransport::Stats& before = end == &p.client ? client : server;
      const TlsTransport::Stats& now = end->tls->stats();
      EXPECT_GE(now.read_waits - before.read_waits, 30u);
      EXPECT_LE(now.input_buffers - before.input_buffers, 1u);
      EXPECT_EQ(now.buffer_releases, 0u);
      EXPECT_EQ(now.ssl_buffers_freed, 0u);
      // The 16 KiB input buffer, and the output buffer kept for the next write.
      EXPECT_GT(end->tls->bufferBytes(), size_t{16} << 10);
    }
    // 4 MiB in 64 KiB writes: the server's input buffer grows, the client's output buffer holds
    // a whole batch.
    const std::string bulk = pattern(4 << 20);
    auto [written, received] = co_await (writeAll(*p.client.tls, bulk, 64 << 10) &&
                                         readSome(*p.server.tls, bulk.size(), 32 << 10));
    EXPECT_TRUE(written && received == bulk);
    if (!(written && received == bulk)) co_return;
    EXPECT_GT(p.client.tls->bufferBytes(), size_t{64} << 10);
    EXPECT_GT(p.server.tls->bufferBytes(), size_t{64} << 10);
    for (int i = 0; i < 2; ++i) {
      if (!co_await exchange(p, request, response)) co_return;
    }
    // 16 KiB of input and ~16 KiB of output, at most, on each side.
    EXPECT_LE(p.client.tls->bufferBytes(), size_t{33} << 10);
    EXPECT_LE(p.server.tls->bufferBytes(), size_t{33} << 10);
  });
}

// Memory stays bounded however many connections an io_context holds: only the
// kWarmConnections that were most recently active keep their buffers; the one that falls out
// releases them (OpenSSL's too), and allocates again when it is used again.
TEST_F(TlsTransportTest, OnlyTheMostRecentlyActiveConnectionsKeepTheirBuffers) {
  run([&]() -> asio::awaitable<void> {
    const std::string request = pattern(300);
    const std::string response = pattern(1200);
    std::vector<Pair> pairs = co_await overflowedWarmSet(request, response);
    if (pairs.empty()) co_return;
    auto holds = [](const End& end) {
      return end.tls->bufferBytes() > 0 && end.tls->stats().buffer_releases == 0;
    };
    auto released = [](const End& end, uint64_t times) {
      return end.tls->bufferBytes() == 0 && end.tls->stats().buffer_releases == times &&
             end.tls->stats().ssl_buffers_freed == times;  // OpenSSL's went too
    };
    EXPECT_TRUE(released(pairs[0].client, 1) && released(pairs[0].server, 1));
    for (size_t i = 1; i < kPairs; ++i) {
      EXPECT_TRUE(holds(pairs[i].client) && holds(pairs[i].server)) << "pair " << i;
    }
    // The first pair is used again: it allocates anew, and the next coldest pair goes.
    if (!co_await exchange(pairs[0], request, response)) co_return;
    EXPECT_GT(pairs[0].client.tls->bufferBytes(), 0u);
    EXPECT_GT(pairs[0].server.tls->bufferBytes(), 0u);
    EXPECT_TRUE(released(pairs[1].client, 1) && released(pairs[1].server, 1));
    EXPECT_TRUE(holds(pairs[2].client) && holds(pairs[2].server));
    // A closed connection leaves the set without taking anyone's place.
    pairs[kPairs - 1].client.tls->close();
    pairs[kPairs - 1].server.tls->close();
    if (!co_await exchange(pairs[1], request, response)) co_return;
    EXPECT_TRUE(holds(pairs[2].client) && holds(pairs[2].server));
  });
}

// A write is activity too: a connection that answers after it fell out of the set (its reader
// still waiting) joins it again, and the coldest member releases its buffers instead.
TEST_F(TlsTransportTest, AConnectionThatWritesJoinsTheWarmSetAgain) {
  run([&]() -> asio::awaitable<void> {
    const std::string request = pattern(300);
    const std::string response = pattern(1200);
    std::vector<Pair> pairs = co_await overflowedWarmSet(request, response);
    if (pairs.empty()) co_return;
    EXPECT_EQ(pairs[0].server.tls->bufferBytes(), 0u);
    // Pair 1 joined in the order server (its wait), client (its write, then its wait), server
    // (its write): the client is the coldest member now.
    EXPECT_TRUE(co_await pairs[0].server.tls->write(asio::buffer(response)));
    EXPECT_GT(pairs[0].server.tls->bufferBytes(), 0u);
    EXPECT_EQ(pairs[1].client.tls->bufferBytes(), 0u);
    EXPECT_EQ(pairs[1].client.tls->stats().buffer_releases, 1u);
    EXPECT_GT(pairs[1].server.tls->bufferBytes(), 0u);
    EXPECT_EQ(co_await readSome(*pairs[0].client.tls, response.size(), 64 << 10), response);
  });
}

// Falling out of the set frees only what holds nothing in flight: decrypted bytes the owner
// has not read yet stay with OpenSSL (SSL_free_buffers is not called then: before OpenSSL
// 3.0.14 it freed them, CVE-2024-4741), and the owner reads them afterwards intact.
TEST_F(TlsTransportTest, AReleasedConnectionKeepsTheBytesItHasNotReadYet) {
  run([&]() -> asio::awaitable<void> {
    std::vector<Pair> pairs = co_await oneWarmSetTooMany();
    if (pairs.empty()) co_return;
    // One record of 1,200 bytes, of which the server reads 100: 1,100 stay in OpenSSL.
    const std::string message = pattern(1200);
    auto [head, sent] = co_await (readSome(*pairs[0].server.tls, 100, 100) &&
                                  writeLater(*pairs[0].client.tls, message));
    EXPECT_TRUE(sent && head == message.substr(0, 100));
    EXPECT_EQ(SSL_has_pending(pairs[0].server.tls->ssl()), 1);
    const std::string request = pattern(300);
    for (size_t i = 1; i < kPairs; ++i) {
      if (!co_await exchange(pairs[i], request, message)) co_return;
    }
    // Out of the set: its input buffer (empty) went, OpenSSL's buffers stayed.
    EXPECT_EQ(pairs[0].server.tls->stats().buffer_releases, 1u);
    EXPECT_EQ(pairs[0].server.tls->stats().ssl_buffers_freed, 0u);
    EXPECT_EQ(co_await readSome(*pairs[0].server.tls, 1100, 64 << 10), message.substr(100));
  });
}

// The race that waiting without a recv first must survive: after a small recv the next message
// arrives and the event loop sees the socket turn readable while nothing waits on it. The wait
// that follows must still complete at once (no lost wakeup), without an EAGAIN recv.
TEST_F(TlsTransportTest, BytesThatArriveBeforeTheWaitStillCompleteIt) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    const std::string first = pattern(200);
    const std::string second = pattern(300);
    EXPECT_TRUE(co_await p.client.tls->write(asio::buffer(first)));
    EXPECT_EQ(co_await readSome(*p.server.tls, first.size(), 64 << 10), first);
    const uint64_t empty = p.server.tls->stats().empty_recvs;
    const uint64_t waits = p.server.tls->stats().read_waits;
    EXPECT_TRUE(co_await p.client.tls->write(asio::buffer(second)));
    co_await sleep(20ms);  // the reactor takes the socket's readiness edge; nobody waits yet
    EXPECT_EQ(co_await readSome(*p.server.tls, second.size(), 64 << 10), second);
    EXPECT_EQ(p.server.tls->stats().read_waits, waits + 1);
    EXPECT_EQ(p.server.tls->stats().empty_recvs, empty);
  });
}

TEST_F(TlsTransportTest, TinySocketBuffersRunThePartialSendAndWaitPaths) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId, /*small_buffers=*/true);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    const std::string bulk = pattern(2 << 20);
    // 1000-byte reads leave most of each record's plaintext inside OpenSSL between reads.
    auto [written, received] = co_await (writeAll(*p.client.tls, bulk, 64 << 10) &&
                                         readSome(*p.server.tls, bulk.size(), 1000));
    EXPECT_TRUE(written) << written.message();
    if (!(written)) co_return;
    EXPECT_TRUE(received == bulk) << "received " << received.size() << " bytes, not the pattern";
    EXPECT_GT(p.client.tls->stats().write_waits, 0u);
    EXPECT_GT(p.server.tls->stats().read_waits, 0u);
  });
}

// A reader served from bytes already received never waits on the socket; it must still give
// other work on the thread a turn per read (a flooding peer must not starve the connection's
// write loop, its timers or other connections: the rapid-reset e2e attack found this).
TEST_F(TlsTransportTest, ReadsFromBufferedDataStillYieldToOtherWork) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    const std::string data = pattern(64 << 10);
    size_t reads = 0;
    int ticks = 0;
    bool done = false;
    auto ticker = [&]() -> asio::awaitable<void> {
      while (!done) {
        ++ticks;
        co_await asio::post(ioc_, kUse);
      }
    };
    auto reader = [&]() -> asio::awaitable<std::string> {
      std::string got;
      std::array<char, 100> buf{};
      while (got.size() < data.size()) {
        auto n = co_await p.server.tls->read(asio::buffer(buf));
        if (!n || *n == 0) break;
        ++reads;
        got.append(buf.data(), *n);
      }
      done = true;
      co_return got;
    };
    auto [written, received] =
        co_await (writeAll(*p.client.tls, data, data.size()) && (reader() && ticker()));
    EXPECT_TRUE(written) << written.message();
    EXPECT_TRUE(received == data);
    // ~660 reads of 100 bytes, nearly all from buffered records: each gives the ticker a turn.
    EXPECT_GE(static_cast<size_t>(ticks), reads / 2) << reads << " reads, " << ticks << " ticks";
  });
}

TEST_F(TlsTransportTest, FinishSendsCloseNotifyAndBothEndsClose) {
  run([&]() -> asio::awaitable<void> {
    std::optional<Pair> sent = co_await handshakenAndSent("bye");
    if (!sent) co_return;
    Pair& p = *sent;
    p.client.tls->finish();
    EXPECT_FALSE(co_await p.client.tls->write(asio::buffer(std::string("more"))));
    EXPECT_EQ(co_await readSome(*p.server.tls, 100, 100), "bye");  // stops at the end
    std::array<char, 16> buf{};
    auto end = co_await p.server.tls->read(asio::buffer(buf));
    EXPECT_TRUE(end) << end.error().message;
    if (!(end)) co_return;
    EXPECT_EQ(*end, 0u);
    // The server's own finish() after the peer ended closes at once.
    p.server.tls->finish();
    EXPECT_FALSE(p.server.tls->socket().is_open());
    // The client sees the server's close_notify, and then closes without waiting its linger.
    auto client_end = co_await p.client.tls->read(asio::buffer(buf));
    EXPECT_TRUE(client_end) << client_end.error().message;
    if (!(client_end)) co_return;
    EXPECT_EQ(*client_end, 0u);
    EXPECT_FALSE(p.client.tls->socket().is_open());
  });
}

// After the peer's close_notify (its TCP side still open), every read reports the end at once:
// none waits on the socket for bytes that cannot come.
TEST_F(TlsTransportTest, ReadsAfterCloseNotifyReportTheEndAgainWithoutWaiting) {
  run([&]() -> asio::awaitable<void> {
    std::optional<Pair> sent = co_await handshakenAndSent("bye");
    if (!sent) co_return;
    Pair& p = *sent;
    SSL_shutdown(p.client.tls->ssl());  // close_notify, and no FIN
    Status flushed = co_await p.client.tls->write(asio::const_buffer());
    EXPECT_TRUE(flushed) << flushed.message();
    EXPECT_EQ(co_await readSome(*p.server.tls, 100, 100), "bye");  // stops at the end
    std::array<char, 16> buf{};
    for (int i = 0; i < 2; ++i) {
      auto end = co_await (p.server.tls->read(asio::buffer(buf)) || sleep(2s));
      EXPECT_EQ(end.index(), 0u) << "read " << i << " after close_notify waited 2 s";
      if (end.index() != 0) co_return;
      const Result<size_t>& n = std::get<0>(end);
      EXPECT_TRUE(n) << n.error().message;
      if (!n) co_return;
      EXPECT_EQ(*n, 0u);
    }
  });
}

TEST_F(TlsTransportTest, FinWithoutCloseNotifyIsATruncationError) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    Status sent = co_await p.server.tls->write(asio::buffer(std::string("last")));
    EXPECT_TRUE(sent) << sent.message();
    if (!sent) co_return;
    p.server.tls->socket().shutdown(tcp::socket::shutdown_send);  // a FIN, no close_notify
    EXPECT_EQ(co_await readSome(*p.client.tls, 4, 100), "last");
    std::array<char, 16> buf{};
    auto end = co_await p.client.tls->read(asio::buffer(buf));
    EXPECT_FALSE(end) << "read " << *end;
    if ((end)) co_return;
    EXPECT_NE(end.error().message.find("without close_notify"), std::string::npos)
        << end.error().message;
  });
}

TEST_F(TlsTransportTest, FinishClosesAfterTheLingerWhenThePeerStaysOpen) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, kServerId, false, /*linger=*/200ms);
    EXPECT_TRUE(p.client.handshake && p.server.handshake);
    if (!(p.client.handshake && p.server.handshake)) co_return;
    p.server.tls->finish();
    EXPECT_TRUE(p.server.tls->socket().is_open());  // waits for the client's end
    for (int i = 0; i < 100 && p.server.tls->socket().is_open(); ++i) co_await sleep(50ms);
    EXPECT_FALSE(p.server.tls->socket().is_open()) << "not closed 5 s after finish()";
    // The client got the close_notify before the close.
    std::array<char, 16> buf{};
    auto end = co_await p.client.tls->read(asio::buffer(buf));
    EXPECT_TRUE(end) << end.error().message;
    if (!(end)) co_return;
    EXPECT_EQ(*end, 0u);
  });
}

TEST_F(TlsTransportTest, ClientFromUntrustedCaIsRefusedWithTheReason) {
  TestPki rogue("rogue CA");
  CertKey rogue_client = rogue.issue(kClientId);
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(makeContext(&rogue_client, pki_.caPem()), kServerId);
    EXPECT_FALSE(p.server.handshake);
    if ((p.server.handshake)) co_return;
    EXPECT_NE(p.server.handshake.message().find("certificate verify failed"), std::string::npos)
        << p.server.handshake.message();
    EXPECT_NE(p.server.verification->error.find("unable to get local issuer"), std::string::npos)
        << p.server.verification->error;
    // TLS 1.3: the client finished first; the server's alert arrives as a read error.
    EXPECT_TRUE(p.client.handshake) << p.client.handshake.message();
    if (!(p.client.handshake)) co_return;
    std::array<char, 16> buf{};
    auto r = co_await p.client.tls->read(asio::buffer(buf));
    EXPECT_FALSE(r);
    if ((r)) co_return;
    EXPECT_NE(r.error().message.find("alert"), std::string::npos) << r.error().message;
  });
}

TEST_F(TlsTransportTest, UnexpectedServerIdentityIsRefusedWithTheReason) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await handshaken(client_ctx_, "spiffe://cluster.local/ns/other/sa/x");
    EXPECT_FALSE(p.client.handshake);
    if ((p.client.handshake)) co_return;
    EXPECT_NE(p.client.handshake.message().find("certificate verify failed"), std::string::npos)
        << p.client.handshake.message();
    EXPECT_NE(p.client.verification->error.find("not one expected"), std::string::npos)
        << p.client.verification->error;
    // The client's alert reaches the server.
    EXPECT_FALSE(p.server.handshake);
    if ((p.server.handshake)) co_return;
    EXPECT_NE(p.server.handshake.message().find("alert"), std::string::npos)
        << p.server.handshake.message();
  });
}

TEST_F(TlsTransportTest, CloseEndsAHandshakeThePeerNeverAnswers) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await makePair(client_ctx_, kServerId);
    // The server never runs its handshake: the client waits for a ServerHello that never comes
    // until its owner's timer closes it, as HboneClientPool's handshake timeout does.
    asio::steady_timer timer(ioc_, 100ms);
    timer.async_wait([&](error_code ec) {
      if (!ec) p.client.tls->close();
    });
    Status hs = co_await p.client.tls->handshake();
    EXPECT_FALSE(hs);
    EXPECT_FALSE(p.client.tls->socket().is_open());
    std::array<char, 16> buf{};
    EXPECT_FALSE(co_await p.client.tls->read(asio::buffer(buf)));
    EXPECT_FALSE(co_await p.client.tls->write(asio::buffer(buf)));
  });
}

TEST_F(TlsTransportTest, PeerThatClosesDuringTheHandshakeIsNamed) {
  run([&]() -> asio::awaitable<void> {
    Pair p = co_await makePair(client_ctx_, kServerId);
    // The server takes the ClientHello's bytes, then sends a FIN instead of an answer.
    auto peer = [&]() -> asio::awaitable<void> {
      std::array<char, 4096> hello{};
      co_await p.server.tls->socket().async_read_some(asio::buffer(hello), kUse);
      p.server.tls->socket().shutdown(tcp::socket::shutdown_send);
    };
    Status hs = co_await (p.client.tls->handshake() && peer());
    EXPECT_FALSE(hs);
    if ((hs)) co_return;
    EXPECT_NE(hs.message().find("peer closed the connection"), std::string::npos) << hs.message();
  });
}

}  // namespace
}  // namespace ambit::hbone
