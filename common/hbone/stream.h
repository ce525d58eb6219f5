#pragma once
// HboneStream: one HTTP/2 CONNECT tunnel, seen as a duplex byte stream.
//
// Thread model: a stream belongs to its connection's executor (single-threaded io_context);
// call everything from there. Lifetime: move-only handle; destroying it while the tunnel is
// still open resets the stream (RST_STREAM CANCEL).
//
// TCP mapping (both directions): DATA = bytes, END_STREAM = half-close (shutdown(SHUT_WR)),
// RST_STREAM = reset/close. splice() implements exactly that against a TCP socket.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/hbone/protocol.h"
#include "common/status.h"

namespace ambit::hbone {

namespace detail {
class StreamState;
}

struct SpliceResult {
  uint64_t bytes_sent = 0;      // TCP socket -> tunnel
  uint64_t bytes_received = 0;  // tunnel -> TCP socket
  Status status;                // ok when both directions ended with a clean half-close
};

// Called once, on the stream's executor, when both directions of a splice have ended.
using SpliceDone = std::function<void(const SpliceResult&)>;

class HboneStream {
 public:
  HboneStream() = default;
  explicit HboneStream(std::shared_ptr<detail::StreamState> state);
  HboneStream(HboneStream&&) noexcept;
  HboneStream& operator=(HboneStream&&) noexcept;
  ~HboneStream();

  bool valid() const { return state_ != nullptr; }
  int32_t streamId() const;
  // SPIFFE id of the connection's peer (verified during the TLS handshake).
  const std::string& peerIdentity() const;

  // Reads up to buffer.size() bytes; 0 = the peer half-closed. Error = reset / connection lost.
  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer);
  // Queues all of `data`, waiting while the per-stream send buffer is full (the peer's
  // flow-control window is the only thing that drains it).
  asio::awaitable<Status> write(asio::const_buffer data);
  // write() of the pieces one after another (a gathered message: no copy into one buffer
  // first). The pieces must stay valid until it completes.
  asio::awaitable<Status> write(std::span<const asio::const_buffer> pieces);
  // END_STREAM after the queued bytes.
  void shutdownWrite();
  // RST_STREAM (default CANCEL; use NGHTTP2_CONNECT_ERROR for an upstream TCP reset).
  void reset(uint32_t h2_error_code = 0x8);

  // Copies both ways between this tunnel and `socket` until both directions are closed, then
  // calls `done`. TCP EOF -> END_STREAM; END_STREAM -> shutdown(send); TCP error -> RST_STREAM
  // (CONNECT_ERROR); RST_STREAM -> the socket is closed with RST (SO_LINGER 0).
  // The splice takes the stream (this handle becomes empty) and the socket, and runs on its
  // own as callbacks, with no coroutine: an idle splice costs one small object and one pending
  // wait per direction (BENCHMARKS.md, memory per idle connection). If the executor is
  // destroyed first, the splice is destroyed with it and `done` is not called.
  void splice(asio::ip::tcp::socket socket, SpliceDone done);
  // splice(), awaited: `socket` is moved into the splice. Cancelling the wait does not stop
  // the splice.
  asio::awaitable<SpliceResult> spliceWith(asio::ip::tcp::socket& socket);

 private:
  std::shared_ptr<detail::StreamState> state_;
};

}  // namespace ambit::hbone
