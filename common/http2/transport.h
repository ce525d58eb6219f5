#pragma once
// http2::Transport: the byte stream an HTTP/2 connection runs over. The connection core
// (common/http2/connection.h) reads and writes only through it, so how bytes reach the wire
// (asio over TLS today, OpenSSL driven directly with gathered writes tomorrow, an HBONE tunnel
// for h2c inside a tunnel, memory in tests) is decided by one implementation of this interface.
//
// Contract: the connection has at most one read() and one write() outstanding at a time, all
// on the connection's executor. After finish() or close() no write() is started; read() may
// still be called until it reports the end.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>

#include "common/status.h"

namespace ambit::http2 {

namespace asio = boost::asio;

class Transport {
 public:
  virtual ~Transport() = default;

  // Reads at least one byte into `buffer`. 0 means the peer ended its direction (TCP FIN,
  // END_STREAM); an error means the stream broke (reset, closed, TLS failure).
  virtual asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) = 0;
  // Writes all of `data`, or fails.
  virtual asio::awaitable<Status> write(asio::const_buffer data) = 0;
  // Graceful end: nothing more will be written. The transport ends our direction as its
  // medium allows and bounds any wait for the peer's end itself.
  virtual void finish() = 0;
  // Abrupt end, now: pending and later reads and writes fail.
  virtual void close() = 0;
};

}  // namespace ambit::http2
