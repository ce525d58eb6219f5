// HboneStream::splice: the two copy loops between a tunnel and a TCP socket.
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <span>

#include "common/async/signal.h"
#include "common/hbone/stream.h"
#include "common/hbone/stream_state.h"

namespace ambit::hbone {
namespace {

using asio::ip::tcp;
using boost::system::error_code;
// Reads go straight into the tunnel's send queue, in chunks that start small and grow to
// kBulkReadChunk while reads fill them (bulk data), back to small once reads come back short.
// An idle direction waits for readability without any buffer (a fixed 64 KiB buffer per
// connection once made 10k idle connections cost ~700 MB in each ztunnel, tests/bench).
constexpr size_t kIdleReadChunk = 2u << 10;
constexpr size_t kBulkReadChunk = 64u << 10;
constexpr size_t kShrinkBelow = kBulkReadChunk / 4;
// Queued blocks handed to one gathered TCP write.
constexpr size_t kMaxWriteBuffers = 16;

void closeWithReset(tcp::socket& socket) {
  error_code ec;
  socket.set_option(asio::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

// One non-blocking read of up to `chunk` bytes (fewer when the stream's send queue has less
// room: `asked` says how many) into the stream's send queue: bytes read, 0 at EOF, would_block,
// or the error. Synchronous, so the queue's tail cannot change under the read.
size_t readIntoStream(tcp::socket& socket, detail::StreamState& stream, size_t chunk, size_t& asked,
                      error_code& ec) {
  asio::mutable_buffer room = stream.prepareSend(chunk);
  asked = room.size();
  size_t n = socket.read_some(room, ec);
  stream.commitSend(ec ? 0 : n);
  return ec ? 0 : n;
}

// Both copy loops of one splice, as callbacks on the stream's executor. Nothing waits in a
// coroutine frame: an idle splice is this object and one pending wait per direction (the
// socket's readability, the stream's receive signal), each holding a reference to it; the last
// completion to let go destroys it, with the socket and the stream handle. When the executor
// is destroyed first, so are those waits, and with them the splice (done is then never called).
class Splice final : public std::enable_shared_from_this<Splice> {
 public:
  Splice(std::shared_ptr<detail::StreamState> stream, tcp::socket socket, SpliceDone done)
      : stream_(std::move(stream)), socket_(std::move(socket)), done_(std::move(done)) {}
  Splice(const Splice&) = delete;
  Splice& operator=(const Splice&) = delete;
  ~Splice() { stream_->abandon(); }  // what destroying an HboneStream does

  void start() {
    error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) {  // both directions need it: the writes below would block
      stream_->reset(NGHTTP2_CONNECT_ERROR);
      closeWithReset(socket_);
      upEnded(Error{ec.value(), fmt::format("TCP peer socket: {}", ec.message())});
    } else {
      pumpUp();
    }
    pumpDown();
  }

 private:
  // TCP -> tunnel: reads go straight into the stream's send queue while it has room (its
  // bounded send buffer is the back-pressure: while the peer's HTTP/2 window is exhausted we
  // stop reading the socket). The wait is for readiness (async_wait completes at once on a
  // socket that is readable now): after a read that came back empty (EAGAIN), or small and
  // short (the socket held less than we asked for: request/response traffic).
  void pumpUp() {
    for (;;) {
      std::optional<Status> room = stream_->sendRoomNow();
      if (!room) {
        stream_->onSendChange([self = shared_from_this()](error_code) { self->pumpUp(); });
        return;
      }
      if (!*room) {
        closeWithReset(socket_);
        upEnded(std::move(*room));
        return;
      }
      error_code ec;
      size_t asked = 0;
      size_t n = readIntoStream(socket_, *stream_, chunk_, asked, ec);
      if (ec == asio::error::would_block) {
        waitReadable();
        return;
      }
      if (ec == asio::error::eof) {
        stream_->shutdownWrite();
        upEnded(Status::ok());
        return;
      }
      if (ec) {
        upFailed(ec);
        return;
      }
      result_.bytes_sent += n;
      if (n == asked) {  // the socket may hold more
        if (asked == chunk_) chunk_ = kBulkReadChunk;
      } else if (n < kShrinkBelow) {
        // A small short read emptied the socket: wait now rather than read again only to hear
        // EAGAIN (the wait completes at once for bytes that came in between).
        chunk_ = kIdleReadChunk;
        waitReadable();
        return;
      }
    }
  }

  void waitReadable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      if (ec) {
        self->upFailed(ec);
      } else {
        self->pumpUp();
      }
    });
  }

  void upFailed(const error_code& ec) {
    stream_->reset(NGHTTP2_CONNECT_ERROR);
    upEnded(Error{ec.value(), fmt::format("read from TCP peer: {}", ec.message())});
  }

  void upEnded(Status status) {
    if (!status && result_.status) result_.status = std::move(status);  // the other side's first
    up_done_ = true;
    finishIfDone();
  }

  // Tunnel -> TCP: everything queued for the stream leaves in one gathered write. Bytes are
  // consumed (and the HTTP/2 window reopened) only once the socket took them, so a slow TCP
  // reader throttles the remote sender.
  void pumpDown() {
    std::optional<Result<size_t>> readable = stream_->readableNow();
    if (!readable) {
      stream_->onReceiveChange([self = shared_from_this()](error_code) { self->pumpDown(); });
      return;
    }
    if (!*readable) {
      closeWithReset(socket_);
      downEnded(readable->status());
      return;
    }
    if (**readable == 0) {
      error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      downEnded(Status::ok());
      return;
    }
    // One turn of the event loop first: DATA already read from the connection (the next TLS
    // records) joins this write instead of needing one of its own.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->writeDown(); });
  }

  // A non-blocking gathered write, and a wait for writability when the socket is full: the
  // pending operation of a stalled write is a small wait, not a write holding the buffer list.
  void writeDown() {
    std::array<asio::const_buffer, kMaxWriteBuffers> queued;
    const size_t filled = stream_->gatherReadable(queued);
    error_code ec;
    const size_t n = socket_.write_some(std::span(queued.data(), filled), ec);
    if (ec == asio::error::would_block) {
      socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](error_code wec) {
        if (wec) {
          self->downFailed(wec);
        } else {
          self->writeDown();
        }
      });
      return;
    }
    if (ec) {
      downFailed(ec);
      return;
    }
    stream_->consume(n);
    result_.bytes_received += n;
    pumpDown();
  }

  void downFailed(const error_code& ec) {
    stream_->reset(NGHTTP2_CONNECT_ERROR);
    closeWithReset(socket_);
    downEnded(Error{ec.value(), fmt::format("write to TCP peer: {}", ec.message())});
  }

  void downEnded(Status status) {
    if (!status) result_.status = std::move(status);  // this side's error wins
    down_done_ = true;
    finishIfDone();
  }

  void finishIfDone() {
    if (!up_done_ || !down_done_) return;
    SpliceDone done = std::move(done_);
    if (done) done(result_);
  }

  std::shared_ptr<detail::StreamState> stream_;
  tcp::socket socket_;
  SpliceDone done_;
  SpliceResult result_;
  size_t chunk_ = kIdleReadChunk;
  bool up_done_ = false;
  bool down_done_ = false;
};

}  // namespace

void HboneStream::splice(tcp::socket socket, SpliceDone done) {
  if (!state_) {
    SpliceResult result;
    result.status = makeError("splice of an empty HboneStream");
    if (done) done(result);
    return;
  }
  std::make_shared<Splice>(std::move(state_), std::move(socket), std::move(done))->start();
}

asio::awaitable<SpliceResult> HboneStream::spliceWith(tcp::socket& socket) {
  // Shared with the callback: a cancelled or destroyed awaiter does not stop the splice, which
  // may then call back after this frame is gone.
  struct Outcome {
    explicit Outcome(const asio::any_io_executor& executor) : finished(executor) {}
    std::optional<SpliceResult> result;
    Signal finished;
  };
  auto outcome = std::make_shared<Outcome>(socket.get_executor());
  splice(std::move(socket), [outcome](const SpliceResult& r) {
    outcome->result = r;
    outcome->finished.notify();
  });
  while (!outcome->result) co_await outcome->finished.wait();
  co_return std::move(*outcome->result);
}

}  // namespace ambit::hbone
