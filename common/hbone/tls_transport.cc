#include "common/hbone/tls_transport.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/intrusive/list.hpp>
#include <cstring>

#include "common/hbone/tls.h"

namespace ambit::hbone {
namespace {

using boost::system::error_code;

constexpr size_t kMinReadBuffer = 16u << 10;
constexpr size_t kMaxReadBuffer = 128u << 10;
// A recv or write smaller than this is not bulk traffic: once the connection waits after one,
// a bulk transfer's larger buffers are dropped.
constexpr size_t kSmallTransfer = 16u << 10;
// The output buffer a connection keeps: a batch of small messages, records included.
constexpr size_t kKeptOutput = (16u << 10) + 256;
// TLS 1.3 record: at most 16 KiB of plaintext, plus header (5), content type (1), AEAD tag (16).
constexpr size_t kMaxRecordPlaintext = 16u << 10;
constexpr size_t kRecordOverhead = 22;

Error closedError(std::string_view op) { return Error{ECANCELED, fmt::format("{}: closed", op)}; }

TlsTransport* transportOf(BIO* bio) { return static_cast<TlsTransport*>(BIO_get_data(bio)); }

}  // namespace

// The connections of one io_context that keep their data buffers, the most recently active first.
// A service of the io_context, so that it lives as long as any transport on it and is used
// from that context's thread only, like the transports.
class TlsTransport::WarmSet final : public asio::execution_context::service {
 public:
  using key_type = WarmSet;
  static inline asio::execution_context::id id;

  explicit WarmSet(asio::execution_context& context) : service(context) {}

  // `t` is active: it becomes the most recent member; returns the member that the set no
  // longer has room for, if any.
  TlsTransport* touch(TlsTransport& t) {
    if (t.warm_hook_.is_linked()) {
      if (&list_.front() == &t) return nullptr;
      list_.erase(list_.iterator_to(t));
    }
    list_.push_front(t);
    if (list_.size() <= kWarmConnections) return nullptr;
    TlsTransport& coldest = list_.back();
    list_.pop_back();
    return &coldest;
  }

  void remove(TlsTransport& t) {
    if (t.warm_hook_.is_linked()) list_.erase(list_.iterator_to(t));
  }

 private:
  void shutdown() override {}

  boost::intrusive::list<TlsTransport, boost::intrusive::member_hook<
                                           TlsTransport, boost::intrusive::list_member_hook<>,
                                           &TlsTransport::warm_hook_>>
      list_;
};

TlsTransport::TlsTransport(asio::ip::tcp::socket socket, std::chrono::milliseconds linger)
    : socket_(std::move(socket)),
      linger_(linger),
      linger_timer_(socket_.get_executor()),
      in_next_capacity_(kMinReadBuffer),
      warm_set_(&asio::use_service<WarmSet>(
          asio::query(socket_.get_executor(), asio::execution::context))) {}

TlsTransport::~TlsTransport() { warm_set_->remove(*this); }

Result<std::unique_ptr<TlsTransport>> TlsTransport::create(asio::ip::tcp::socket socket,
                                                           SSL_CTX* ctx, Side side,
                                                           std::chrono::milliseconds linger) {
  BIO_METHOD* method = bioMethod();
  if (method == nullptr) return makeError("TLS: cannot create the BIO method: {}", lastSslError());
  std::unique_ptr<TlsTransport> transport(new TlsTransport(std::move(socket), linger));
  transport->ssl_.reset(SSL_new(ctx));
  if (!transport->ssl_) return makeError("SSL_new: {}", lastSslError());
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return makeError("BIO_new: {}", lastSslError());
  BIO_set_data(bio, transport.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(transport->ssl(), bio, bio);  // one BIO both ways; the SSL owns it
  if (side == Side::kClient) {
    SSL_set_connect_state(transport->ssl());
  } else {
    SSL_set_accept_state(transport->ssl());
    // HBONE clients do not resume sessions: tickets would cost an encryption and two records
    // per handshake for nothing.
    SSL_set_num_tickets(transport->ssl(), 0);
  }
  return transport;
}

BIO_METHOD* TlsTransport::bioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ambit HBONE TLS");
    if (m != nullptr) {
      BIO_meth_set_read(m, bioRead);
      BIO_meth_set_write(m, bioWrite);
      BIO_meth_set_ctrl(m, bioCtrl);
    }
    return m;
  }();
  return method;
}

int TlsTransport::bioRead(BIO* bio, char* out, int len) {
  TlsTransport* t = transportOf(bio);
  BIO_clear_retry_flags(bio);
  const size_t available = t->in_end_ - t->in_begin_;
  if (available == 0) {
    if (t->eof_) return 0;  // with BIO_CTRL_EOF: OpenSSL reports an unexpected EOF
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(available, static_cast<size_t>(len));
  std::memcpy(out, t->in_.get() + t->in_begin_, n);
  t->in_begin_ += n;
  return static_cast<int>(n);
}

int TlsTransport::bioWrite(BIO* bio, const char* data, int len) {
  TlsTransport* t = transportOf(bio);
  BIO_clear_retry_flags(bio);
  // Same element type on both sides, so the insert is one memmove (char -> uint8_t would be a
  // per-byte conversion loop: it was a third of the CPU in tls_transport_bench).
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  t->out_.insert(t->out_.end(), bytes, bytes + len);
  return len;
}

long TlsTransport::bioCtrl(BIO* bio, int cmd, long, void*) {  // NOLINT(runtime/int)
  TlsTransport* t = transportOf(bio);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // write() and handshake() send what the SSL call left in the buffer
    case BIO_CTRL_EOF:
      return t->eof_ && t->in_begin_ == t->in_end_;
    case BIO_CTRL_PENDING:
      return static_cast<long>(t->in_end_ - t->in_begin_);  // NOLINT(runtime/int)
    case BIO_CTRL_WPENDING:
      return static_cast<long>(t->out_.size() - t->out_sent_);  // NOLINT(runtime/int)
    default:
      return 0;
  }
}

asio::awaitable<Status> TlsTransport::handshake() {
  for (;;) {
    if (closed_) co_return closedError("TLS handshake");
    clearSslErrors();
    ssl_buffers_used_ = true;
    const int rc = SSL_do_handshake(ssl());
    const int ssl_error = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl(), rc);
    std::string failure;
    if (ssl_error != SSL_ERROR_NONE && ssl_error != SSL_ERROR_WANT_READ) {
      failure = eof_ ? "the peer closed the connection" : lastSslError();
    }
    // Our flight goes out first; on failure it is the alert that tells the peer why.
    Status sent = co_await flush();
    if (!failure.empty()) {
      ssl_failed_ = true;
      co_return Error{EPROTO, failure};
    }
    AMBIT_CO_TRY(sent);
    if (rc == 1) {
      handshake_done_ = true;
      co_return Status::ok();
    }
    AMBIT_CO_TRY(co_await receive());
  }
}

asio::awaitable<Result<size_t>> TlsTransport::read(asio::mutable_buffer buffer) {
  if (deferred_end_) {
    Result<size_t> end = std::move(*deferred_end_);
    deferred_end_.reset();
    co_return end;
  }
  if (buffer.size() == 0) co_return makeError("TLS read: empty buffer");
  const uint64_t waits_at_start = stats_.read_waits + stats_.write_waits;
  auto* data = static_cast<uint8_t*>(buffer.data());
  for (;;) {
    if (closed_) co_return closedError("TLS read");
    // Decrypt every whole record already received, up to the caller's buffer.
    size_t got = 0;
    int ssl_error = SSL_ERROR_NONE;
    clearSslErrors();
    while (got < buffer.size()) {
      // No byte received that OpenSSL has not taken, none of them left in its buffers, and no
      // end to report again: SSL_read_ex could only say WANT_READ (BENCHMARKS.md, session 23).
      if (in_begin_ == in_end_ && !eof_ && !input_ended_ && SSL_has_pending(ssl()) == 0) {
        ssl_error = SSL_ERROR_WANT_READ;
        break;
      }
      size_t n = 0;
      ssl_buffers_used_ = true;
      if (SSL_read_ex(ssl(), data + got, buffer.size() - got, &n) != 1) {
        ssl_error = SSL_get_error(ssl(), 0);
        break;
      }
      got += n;
    }
    if (ssl_error != SSL_ERROR_NONE && ssl_error != SSL_ERROR_WANT_READ) {
      Result<size_t> end = endOfInput(ssl_error);
      if (got == 0) co_return end;
      deferred_end_ = std::move(end);
    }
    // Reading can produce output too (the answer to the peer's KeyUpdate).
    if (out_sent_ < out_.size() && !closed_) flushInBackground();
    if (got > 0) {
      co_await yieldIfNotWaited(waits_at_start);
      co_return got;
    }
    AMBIT_CO_TRY(co_await receive());
  }
}

// A read or write that never waited completed without leaving the coroutine: against a peer
// that keeps the socket full, the connection's read loop would then run forever without giving
// its write loop (a GOAWAY), its timers or any other connection on this thread a turn. One pass
// through the scheduler per call keeps asio's fairness (its operations never complete inline).
asio::awaitable<void> TlsTransport::yieldIfNotWaited(uint64_t waits_at_start) {
  if (stats_.read_waits + stats_.write_waits != waits_at_start) co_return;
  co_await asio::post(socket_.get_executor(), asio::use_awaitable);
}

Result<size_t> TlsTransport::endOfInput(int ssl_error) {
  input_ended_ = true;
  Result<size_t> end = size_t{0};
  if (ssl_error != SSL_ERROR_ZERO_RETURN) {
    ssl_failed_ = true;
    end = eof_ ? Error{ECONNRESET, "TLS read: the peer closed the connection without close_notify"}
               : Error{EPROTO, fmt::format("TLS read: {}", lastSslError())};
  }
  if (finished_) close();
  return end;
}

asio::awaitable<Status> TlsTransport::receive() {
  for (;;) {
    if (closed_) co_return closedError("TLS recv");
    if (in_begin_ == in_end_) {
      in_begin_ = in_end_ = 0;
    } else if (in_begin_ > 0) {  // not reached today: OpenSSL drains the buffer before WANT_READ
      std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    }
    if (!drained_) {
      if (in_end_ == 0 && in_capacity_ != in_next_capacity_) {
        in_ = std::make_unique_for_overwrite<uint8_t[]>(in_next_capacity_);
        in_capacity_ = in_next_capacity_;
        ++stats_.input_buffers;
      }
      const size_t room = in_capacity_ - in_end_;
      const ssize_t n = ::recv(socket_.native_handle(), in_.get() + in_end_, room, MSG_DONTWAIT);
      if (n > 0) {
        ++stats_.recvs;
        in_end_ += static_cast<size_t>(n);
        small_traffic_ = static_cast<size_t>(n) < kSmallTransfer;
        if (static_cast<size_t>(n) == room) {
          in_next_capacity_ = std::min(in_capacity_ * 2, kMaxReadBuffer);
        }
        // A small recv that did not fill the buffer emptied the socket: the next receive()
        // waits first instead of hearing EAGAIN (the wait completes at once for bytes that
        // came in between).
        drained_ = small_traffic_ && static_cast<size_t>(n) < room;
        co_return Status::ok();
      }
      if (n == 0) {
        eof_ = true;
        co_return Status::ok();
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) co_return errnoError("TLS recv");
      ++stats_.empty_recvs;
    }
    drained_ = false;
    keepBuffersWhileWaiting();
    ++stats_.read_waits;
    error_code ec;
    co_await socket_.async_wait(asio::socket_base::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error{ec.value(), fmt::format("TLS recv: {}", ec.message())};
  }
}

void TlsTransport::keepBuffersWhileWaiting() {
  if (!handshake_done_ || closed_) return;
  if (small_traffic_ && in_capacity_ > kMinReadBuffer && in_begin_ == in_end_) {
    in_.reset();
    in_capacity_ = 0;
    in_begin_ = in_end_ = 0;
    in_next_capacity_ = kMinReadBuffer;
  }
  joinWarmSet();
}

void TlsTransport::joinWarmSet() {
  if (!handshake_done_ || closed_) return;
  if (TlsTransport* coldest = warm_set_->touch(*this)) coldest->releaseBuffers();
}

void TlsTransport::releaseBuffers() {
  // The owner may be anywhere between its awaits (this runs on its thread, from another
  // connection's wait or write): only what holds nothing in flight goes, and the owner's next
  // receive() or write() allocates again.
  bool freed = false;
  if (in_ && in_begin_ == in_end_) {
    in_.reset();
    in_capacity_ = 0;
    in_begin_ = in_end_ = 0;
    in_next_capacity_ = kMinReadBuffer;
    freed = true;
  }
  if (out_.capacity() > 0 && (out_sent_ == out_.size() || closed_)) {
    std::vector<uint8_t>().swap(out_);
    out_sent_ = 0;
    freed = true;
  }
  // Not while OpenSSL holds received bytes (a partial record, or decrypted bytes the owner has
  // not read yet): OpenSSL 3.0 before 3.0.14 freed its read buffer even then (CVE-2024-4741).
  if (ssl_buffers_used_ && handshake_done_ && SSL_has_pending(ssl()) == 0 &&
      SSL_free_buffers(ssl()) == 1) {
    ssl_buffers_used_ = false;
    ++stats_.ssl_buffers_freed;
    freed = true;
  }
  if (freed) ++stats_.buffer_releases;
}

asio::awaitable<Status> TlsTransport::write(asio::const_buffer data) {
  if (closed_ || finished_) co_return closedError("TLS write");
  const uint64_t waits_at_start = stats_.read_waits + stats_.write_waits;
  if (data.size() > 0) {
    const size_t records = data.size() / kMaxRecordPlaintext + 1;
    const size_t needed = out_.size() + data.size() + records * kRecordOverhead;
    if (needed > out_.capacity()) out_.reserve(std::max(needed, kKeptOutput));
    clearSslErrors();
    size_t written = 0;
    // The BIO takes every record, so SSL_write completes at once (TLS 1.3 has no
    // renegotiation that could make it wait for input).
    ssl_buffers_used_ = true;
    if (SSL_write_ex(ssl(), data.data(), data.size(), &written) != 1) {
      ssl_failed_ = true;
      co_return Error{EPROTO, fmt::format("TLS write: {}", lastSslError())};
    }
  }
  Status sent = co_await flush();
  if (sent && data.size() < kSmallTransfer && out_.empty() && out_.capacity() > kKeptOutput) {
    std::vector<uint8_t>().swap(out_);  // a bulk transfer's; the next write takes kKeptOutput
  }
  if (sent) joinWarmSet();
  if (sent) co_await yieldIfNotWaited(waits_at_start);
  co_return sent;
}

asio::awaitable<Status> TlsTransport::flush() {
  for (;;) {
    Result<bool> done = sendBuffered();
    if (!done) co_return done.error();
    if (*done) co_return Status::ok();
    ++stats_.write_waits;
    error_code ec;
    co_await socket_.async_wait(asio::socket_base::wait_write,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error{ec.value(), fmt::format("TLS send: {}", ec.message())};
  }
}

Result<bool> TlsTransport::sendBuffered() {
  if (closed_) return closedError("TLS send");
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(socket_.native_handle(), out_.data() + out_sent_,
                             out_.size() - out_sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      ++stats_.sends;
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    return errnoError("TLS send");
  }
  out_.clear();
  out_sent_ = 0;
  if (shutdown_pending_) {
    shutdown_pending_ = false;
    ::shutdown(socket_.native_handle(), SHUT_WR);
  }
  return true;
}

void TlsTransport::flushInBackground() {
  if (closed_ || background_flush_) return;
  Result<bool> done = sendBuffered();
  if (!done) return close();
  if (*done) return;
  background_flush_ = true;
  ++stats_.write_waits;
  socket_.async_wait(asio::socket_base::wait_write, [this](error_code ec) {
    if (ec) return;  // closed, or the transport is gone: do not touch it
    background_flush_ = false;
    flushInBackground();
  });
}

void TlsTransport::finish() {
  if (finished_ || closed_) return;
  finished_ = true;
  if (handshake_done_ && !ssl_failed_) {
    clearSslErrors();
    ssl_buffers_used_ = true;
    SSL_shutdown(ssl());  // queues close_notify; never waits (we do not read the peer's here)
    clearSslErrors();
  }
  if (input_ended_) {
    // The peer is done too: close_notify if the socket takes it now, then close.
    (void)sendBuffered();
    return close();
  }
  shutdown_pending_ = true;
  flushInBackground();
  if (closed_) return;
  linger_timer_.expires_after(linger_);
  // A destroyed transport cancels the timer: the handler then only sees the error.
  linger_timer_.async_wait([this](error_code ec) {
    if (!ec) close();
  });
}

void TlsTransport::close() {
  closed_ = true;
  warm_set_->remove(*this);
  releaseBuffers();  // nothing is sent or received any more
  linger_timer_.cancel();
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace ambit::hbone
