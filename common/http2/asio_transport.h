#pragma once
// AsioStreamTransport: an http2::Transport over an asio stream that owns a socket (TCP,
// asio::ssl::stream<tcp::socket>, a unix socket in tests). HBONE does not use it: its HTTP/2
// runs over hbone::TlsTransport (common/hbone/tls_transport.h), which drives OpenSSL directly.
//
// close() closes the socket. finish() ends only our direction (FIN after the last frame, a
// GOAWAY) and closes the socket once the peer ends its own or after a linger (Envoy's delayed
// close, 1 s): closing at once with the peer's bytes unread would make the kernel answer
// with a reset, and a peer still sending (a flood the GOAWAY refused) would lose the GOAWAY.

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <utility>

#include "common/http2/transport.h"

namespace ambit::http2 {

template <typename Stream>
class AsioStreamTransport final : public Transport {
 public:
  explicit AsioStreamTransport(Stream stream,
                               std::chrono::milliseconds linger = std::chrono::seconds(1))
      : stream_(std::move(stream)), linger_(linger), linger_timer_(stream_.get_executor()) {}

  Stream& stream() { return stream_; }

  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) override {
    boost::system::error_code ec;
    size_t n =
        co_await stream_.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      input_ended_ = true;
      if (finished_) close();
      co_return size_t{0};
    }
    if (ec) co_return Error{ec.value(), ec.message()};
    co_return n;
  }

  asio::awaitable<Status> write(asio::const_buffer data) override {
    boost::system::error_code ec;
    co_await asio::async_write(stream_, data, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error{ec.value(), fmt::format("write: {}", ec.message())};
    co_return Status::ok();
  }

  void finish() override {
    boost::system::error_code ec;
    finished_ = true;
    if (input_ended_) return close();
    stream_.lowest_layer().shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) return close();
    linger_timer_.expires_after(linger_);
    // A destroyed transport cancels the timer: the handler then only sees the error.
    linger_timer_.async_wait([this](boost::system::error_code timer_ec) {
      if (!timer_ec) close();
    });
  }

  void close() override {
    boost::system::error_code ignored;
    linger_timer_.cancel();
    stream_.lowest_layer().close(ignored);
  }

 private:
  Stream stream_;
  std::chrono::milliseconds linger_;
  asio::steady_timer linger_timer_;
  bool finished_ = false;     // finish() was called
  bool input_ended_ = false;  // the peer ended its direction
};

}  // namespace ambit::http2
