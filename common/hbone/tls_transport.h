#pragma once
// TlsTransport: one HBONE TLS connection (a TCP socket and an SSL*), as the http2::Transport
// HBONE's HTTP/2 runs over. It drives OpenSSL itself instead of asio::ssl::stream (tls.h says
// why): encrypted bytes pass through buffers of our own, attached to the SSL by a small BIO.
//
// Data path:
//   write(): SSL_write encrypts the whole batch (the HTTP/2 core hands up to 64 KiB at a time);
//            every TLS record lands in the output buffer, which then goes out with ONE send()
//            per batch (more when the socket buffer is full: we wait for writability).
//   read():  one recv() of up to 128 KiB of ciphertext into the input buffer, then SSL_read
//            until the caller's buffer is full or no whole record is left.
// The socket is never blocked on: recv/send use MSG_DONTWAIT and waits are asio async_waits
// on the socket's reactor, so the connection's event loop stays free.
//
// Memory: the data buffers (the input and output buffers, and OpenSSL's own record buffers)
// are kept by the kWarmConnections connections of an io_context that were most recently
// active (waited for input, or wrote), and released (SSL_free_buffers for OpenSSL's) when a
// connection falls out of that set or closes. So a connection carrying requests allocates
// them once, not at every message (BENCHMARKS.md, session 24), and memory stays bounded
// however many connections sit idle: an idle connection outside the set holds none (but bytes
// still in flight: a partial record, decrypted bytes not yet read, output not yet sent). The
// input buffer starts at 16 KiB and doubles up to 128 KiB while reads fill it; after bulk
// traffic, the first wait after a small recv drops it back (and a small write the output
// buffer), so a warm connection holds ~65 KiB (16 KiB input, 16.25 KiB output, OpenSSL's two
// record buffers of ~16.5 KiB each).
//
// Syscalls: a recv smaller than the buffer's room emptied the socket, so after a small one the
// next receive waits for readability at once instead of first hearing EAGAIN from recv (the
// wait re-checks readiness, so bytes that came in meanwhile complete it immediately).
//
// Ends: read() returns 0 after the peer's close_notify; a TCP FIN without close_notify (a
// truncation) and any TLS failure are errors naming the cause. finish() queues our
// close_notify, sends a FIN once everything written has gone, and closes the socket when the
// peer ends its own direction or after `linger` (Envoy's delayed close: closing at once with
// the peer's bytes unread would make the kernel answer with a reset, and a peer still sending
// would lose our GOAWAY). close() closes the socket now: pending and later reads and writes
// fail.
//
// Thread model: everything, including handshake(), runs on the socket's executor (one
// thread); the http2::Transport contract applies (one read and one write outstanding at most).
// The transports of one io_context share its warm set, so that io_context must run on one
// thread (the ztunnel's and the waypoint's data threads do).
// The SSL_CTX stays the caller's: it must outlive the transport. Not movable: the BIO points at
// the object.

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list_hook.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http2/transport.h"
#include "common/status.h"

namespace ambit::hbone {

namespace asio = boost::asio;

class TlsTransport final : public http2::Transport {
 public:
  enum class Side { kClient, kServer };

  // Counters for tests and diagnostics.
  struct Stats {
    uint64_t recvs = 0;              // recv() calls that returned bytes
    uint64_t empty_recvs = 0;        // recv() calls that found nothing (EAGAIN)
    uint64_t sends = 0;              // send() calls that took bytes
    uint64_t read_waits = 0;         // waits for the socket to become readable
    uint64_t write_waits = 0;        // waits for room in the socket's send buffer
    uint64_t input_buffers = 0;      // input buffers allocated
    uint64_t buffer_releases = 0;    // releases that freed a buffer (out of the warm set, closed)
    uint64_t ssl_buffers_freed = 0;  // of them, the ones where OpenSSL's went too
  };

  // How many connections of one io_context keep their data buffers (the most recently active).
  static constexpr size_t kWarmConnections = 8;

  // A new SSL of `ctx` on `socket` (open; connected now or later through socket()). The caller
  // adds its per-connection settings on ssl() (PeerVerification, ALPN) before handshake().
  static Result<std::unique_ptr<TlsTransport>> create(
      asio::ip::tcp::socket socket, SSL_CTX* ctx, Side side,
      std::chrono::milliseconds linger = std::chrono::seconds(1));
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Runs the TLS handshake to its end, including sending our last flight. The error says why
  // it failed: OpenSSL's reason (an alert from the peer, a certificate our verify callback
  // refused), "closed" when close() ended it (e.g. the caller's handshake timer), or the peer
  // closing the connection. Call once, before read() and write().
  asio::awaitable<Status> handshake();

  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) override;
  asio::awaitable<Status> write(asio::const_buffer data) override;
  void finish() override;
  void close() override;

  SSL* ssl() const { return ssl_.get(); }
  asio::ip::tcp::socket& socket() { return socket_; }
  const Stats& stats() const { return stats_; }
  // Bytes of our own data buffers allocated now (OpenSSL's record buffers not included).
  size_t bufferBytes() const { return in_capacity_ + out_.capacity(); }

 private:
  TlsTransport(asio::ip::tcp::socket socket, std::chrono::milliseconds linger);

  // The BIO's two ends: OpenSSL takes ciphertext from the input buffer and appends records to
  // the output buffer.
  static int bioRead(BIO* bio, char* out, int len);
  static int bioWrite(BIO* bio, const char* data, int len);
  static long bioCtrl(BIO* bio, int cmd, long num, void* ptr);  // NOLINT(runtime/int)
  static BIO_METHOD* bioMethod();

  // One recv() into the input buffer, waiting for readability first if nothing is there or if
  // the last recv was small and emptied the socket (drained_). Sets eof_ when the peer sent a
  // FIN.
  asio::awaitable<Status> receive();
  // Sends the output buffer, waiting for room as needed.
  asio::awaitable<Status> flush();
  // Sends as much of the output buffer as the socket takes now: true when all of it went.
  Result<bool> sendBuffered();
  // Sends the output buffer from socket readiness callbacks (output produced outside write():
  // close_notify, a TLS 1.3 KeyUpdate answer). Bounded by close() and the linger.
  void flushInBackground();
  // What read() reports when SSL_read stopped with `ssl_error` (not WANT_READ).
  Result<size_t> endOfInput(int ssl_error);
  // Passes through the scheduler unless a wait happened since `waits_at_start` (read_waits +
  // write_waits): read() and write() never complete without giving other work a turn.
  asio::awaitable<void> yieldIfNotWaited(uint64_t waits_at_start);
  // Waiting for input: drops a bulk transfer's large input buffer once traffic is small, then
  // joinWarmSet().
  void keepBuffersWhileWaiting();
  // Active now: the connection becomes the warm set's most recent member, and the member the
  // set no longer has room for releases its buffers (see "Memory").
  void joinWarmSet();
  // Frees the data buffers (ours and OpenSSL's) that hold nothing in flight.
  void releaseBuffers();

  class WarmSet;  // the io_context's connections that keep their buffers (an asio service)

  struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };

  asio::ip::tcp::socket socket_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
  std::chrono::milliseconds linger_;
  asio::steady_timer linger_timer_;

  std::unique_ptr<uint8_t[]> in_;  // ciphertext received, [in_begin_, in_end_) not yet taken
  size_t in_capacity_ = 0;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  size_t in_next_capacity_;   // the size the buffer gets when (re)allocated
  std::vector<uint8_t> out_;  // ciphertext to send, [out_sent_, size) not yet sent
  size_t out_sent_ = 0;
  bool small_traffic_ = true;      // the last recv was small: drop a large input buffer on a wait
  bool drained_ = false;           // the last recv was small and short: wait before the next one
  bool ssl_buffers_used_ = false;  // an SSL call since SSL_free_buffers last freed OpenSSL's

  bool handshake_done_ = false;
  bool ssl_failed_ = false;        // OpenSSL reported a fatal error: no close_notify
  bool eof_ = false;               // the peer's FIN arrived
  bool input_ended_ = false;       // read() reported the end (0 or an error)
  bool finished_ = false;          // finish() was called
  bool closed_ = false;            // close() was called
  bool shutdown_pending_ = false;  // finish(): send a FIN once the output buffer is empty
  bool background_flush_ = false;  // flushInBackground() waits for writability
  std::optional<Result<size_t>> deferred_end_;  // an end seen while returning bytes
  Stats stats_;

  WarmSet* warm_set_ = nullptr;                     // the socket's io_context's
  boost::intrusive::list_member_hook<> warm_hook_;  // linked while in the warm set
};

}  // namespace ambit::hbone
