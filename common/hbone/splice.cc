// HboneStream::spliceWith: the two copy loops between a tunnel and a TCP socket.
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <span>

#include "common/async/signal.h"
#include "common/async/spawn.h"
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

// One non-blocking read into the stream's send queue: bytes read, 0 at EOF, would_block, or the
// error. Synchronous, so the queue's tail cannot change under the read.
size_t readIntoStream(tcp::socket& socket, detail::StreamState& stream, size_t chunk,
                      error_code& ec) {
  asio::mutable_buffer room = stream.prepareSend(chunk);
  size_t n = socket.read_some(room, ec);
  stream.commitSend(ec ? 0 : n);
  return ec ? 0 : n;
}

// TCP -> tunnel. The stream's bounded send buffer is the back-pressure: while the peer's
// HTTP/2 window is exhausted, waitSendRoom() waits and we stop reading the socket.
asio::awaitable<Status> tcpToTunnel(tcp::socket& socket, detail::StreamState& stream,
                                    uint64_t& bytes) {
  error_code ec;
  socket.non_blocking(true, ec);
  if (ec) {
    stream.reset(NGHTTP2_CONNECT_ERROR);
    co_return Error{ec.value(), fmt::format("TCP peer socket: {}", ec.message())};
  }
  size_t chunk = kIdleReadChunk;
  for (;;) {
    if (Status room = co_await stream.waitSendRoom(); !room) {
      closeWithReset(socket);
      co_return room;
    }
    // Readiness is edge-triggered: wait only after a read found the socket empty.
    size_t n = readIntoStream(socket, stream, chunk, ec);
    if (ec == asio::error::would_block) {
      co_await socket.async_wait(tcp::socket::wait_read,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) continue;
    }
    if (ec == asio::error::eof) {
      stream.shutdownWrite();
      co_return Status::ok();
    }
    if (ec) {
      stream.reset(NGHTTP2_CONNECT_ERROR);
      co_return Error{ec.value(), fmt::format("read from TCP peer: {}", ec.message())};
    }
    bytes += n;
    if (n == chunk) {
      chunk = kBulkReadChunk;
    } else if (n < kShrinkBelow) {
      chunk = kIdleReadChunk;
    }
  }
}

// The TCP -> tunnel half of a splice, reporting to the other half.
struct Upstream {
  explicit Upstream(const asio::any_io_executor& executor) : finished(executor) {}
  Status status;
  uint64_t bytes = 0;
  bool done = false;
  Signal finished;
};

asio::awaitable<void> runUpstream(tcp::socket& socket, std::shared_ptr<detail::StreamState> stream,
                                  std::shared_ptr<Upstream> up) {
  up->status = co_await tcpToTunnel(socket, *stream, up->bytes);
  up->done = true;
  up->finished.notify();
}

// A frame of its own, so that an idle tunnel's frame does not hold the buffer list.
asio::awaitable<size_t> writeQueued(detail::StreamState& stream, tcp::socket& socket,
                                    error_code& ec) {
  // One turn of the event loop first: DATA already read from the connection (the next TLS
  // records) joins this write instead of needing one of its own.
  co_await asio::post(socket.get_executor(), asio::use_awaitable);
  std::array<asio::const_buffer, kMaxWriteBuffers> queued;
  const size_t filled = stream.gatherReadable(queued);
  co_return co_await asio::async_write(socket, std::span(queued.data(), filled),
                                       asio::redirect_error(asio::use_awaitable, ec));
}

// Tunnel -> TCP: everything queued for the stream leaves in one gathered write. Bytes are
// consumed (and the HTTP/2 window reopened) only once the socket took them, so a slow TCP
// reader throttles the remote sender.
asio::awaitable<Status> tunnelToTcp(detail::StreamState& stream, tcp::socket& socket,
                                    uint64_t& bytes) {
  for (;;) {
    auto readable = co_await stream.readable();
    if (!readable) {
      closeWithReset(socket);
      co_return readable.error();
    }
    error_code ec;
    if (*readable == 0) {
      socket.shutdown(tcp::socket::shutdown_send, ec);
      co_return Status::ok();
    }
    size_t n = co_await writeQueued(stream, socket, ec);
    if (ec) {
      stream.reset(NGHTTP2_CONNECT_ERROR);
      closeWithReset(socket);
      co_return Error{ec.value(), fmt::format("write to TCP peer: {}", ec.message())};
    }
    stream.consume(n);
    bytes += n;
  }
}

}  // namespace

asio::awaitable<SpliceResult> HboneStream::spliceWith(tcp::socket& socket) {
  SpliceResult result;
  if (!state_) {
    result.status = makeError("splice of an empty HboneStream");
    co_return result;
  }
  // TCP -> tunnel runs as a coroutine of its own while this one carries tunnel -> TCP, then
  // waits for it: cheaper per idle tunnel than a parallel group of two (awaitable_operators).
  auto up = std::make_shared<Upstream>(socket.get_executor());
  spawn(socket.get_executor(), runUpstream(socket, state_, up), "HBONE splice TCP->tunnel");
  Status down = co_await tunnelToTcp(*state_, socket, result.bytes_received);
  while (!up->done) co_await up->finished.wait();
  result.bytes_sent = up->bytes;
  if (!down) {
    result.status = down;
  } else if (!up->status) {
    result.status = up->status;
  }
  co_return result;
}

}  // namespace ambit::hbone
