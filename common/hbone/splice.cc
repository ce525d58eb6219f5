// HboneStream::spliceWith: the two copy loops between a tunnel and a TCP socket.
#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "common/hbone/stream.h"
#include "common/hbone/stream_state.h"

namespace ambit::hbone {
namespace {

using asio::ip::tcp;
using boost::system::error_code;
// Every connection reads into a small buffer; one that fills it (bulk data) switches to a large
// one until reads come back small again. A fixed 64 KiB buffer per connection made 10k idle
// connections cost ~700 MB in each ztunnel (tests/bench).
constexpr size_t kIdleReadChunk = 2u << 10;
constexpr size_t kBulkReadChunk = 64u << 10;
constexpr size_t kShrinkBelow = kBulkReadChunk / 4;

void closeWithReset(tcp::socket& socket) {
  error_code ec;
  socket.set_option(asio::socket_base::linger(true, 0), ec);
  socket.close(ec);
}

// TCP -> tunnel. The stream's bounded send buffer is the back-pressure: while the peer's
// HTTP/2 window is exhausted, write() waits and we stop reading the socket.
asio::awaitable<Status> tcpToTunnel(tcp::socket& socket, detail::StreamState& stream,
                                    uint64_t& bytes) {
  std::array<uint8_t, kIdleReadChunk> small;
  std::unique_ptr<uint8_t[]> bulk;
  for (;;) {
    error_code ec;
    const auto buf = bulk ? asio::buffer(bulk.get(), kBulkReadChunk) : asio::buffer(small);
    size_t n = co_await socket.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      stream.shutdownWrite();
      co_return Status::ok();
    }
    if (ec) {
      stream.reset(NGHTTP2_CONNECT_ERROR);
      co_return Error{ec.value(), fmt::format("read from TCP peer: {}", ec.message())};
    }
    Status written = co_await stream.write(asio::buffer(buf.data(), n));
    if (!written) {
      closeWithReset(socket);
      co_return written;
    }
    bytes += n;
    if (!bulk && n == small.size()) {
      bulk = std::make_unique_for_overwrite<uint8_t[]>(kBulkReadChunk);
    } else if (bulk && n < kShrinkBelow) {
      bulk.reset();
    }
  }
}

// Tunnel -> TCP. Bytes are consumed (and the HTTP/2 window reopened) only once the socket
// took them, so a slow TCP reader throttles the remote sender.
asio::awaitable<Status> tunnelToTcp(detail::StreamState& stream, tcp::socket& socket,
                                    uint64_t& bytes) {
  for (;;) {
    auto readable = co_await stream.readable();
    if (!readable) {
      closeWithReset(socket);
      co_return readable.error();
    }
    error_code ec;
    if (readable->size() == 0) {
      socket.shutdown(tcp::socket::shutdown_send, ec);
      co_return Status::ok();
    }
    size_t n = co_await asio::async_write(socket, *readable,
                                          asio::redirect_error(asio::use_awaitable, ec));
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
  using namespace asio::experimental::awaitable_operators;
  SpliceResult result;
  if (!state_) {
    result.status = makeError("splice of an empty HboneStream");
    co_return result;
  }
  auto keep = state_;
  auto [up, down] = co_await (tcpToTunnel(socket, *keep, result.bytes_sent) &&
                              tunnelToTcp(*keep, socket, result.bytes_received));
  if (!down) {
    result.status = down;
  } else if (!up) {
    result.status = up;
  }
  co_return result;
}

}  // namespace ambit::hbone
