#pragma once
// AsioStreamTransport: an http2::Transport over an asio stream that owns a socket (TCP,
// asio::ssl::stream<tcp::socket>, a unix socket in tests). HBONE's HTTP/2 runs over
// AsioStreamTransport<asio::ssl::stream<tcp::socket>>: this is the one place its bytes meet
// TLS, and the class a faster TLS transport would replace.
//
// Ending the connection, gracefully or not, closes the socket: an HTTP/2 connection that has
// sent its last frame (GOAWAY) has nothing more to say or to wait for.

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "common/http2/transport.h"

namespace ambit::http2 {

template <typename Stream>
class AsioStreamTransport final : public Transport {
 public:
  explicit AsioStreamTransport(Stream stream) : stream_(std::move(stream)) {}

  Stream& stream() { return stream_; }

  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) override {
    boost::system::error_code ec;
    size_t n =
        co_await stream_.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) co_return size_t{0};
    if (ec) co_return Error{ec.value(), ec.message()};
    co_return n;
  }

  asio::awaitable<Status> write(asio::const_buffer data) override {
    boost::system::error_code ec;
    co_await asio::async_write(stream_, data, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error{ec.value(), fmt::format("write: {}", ec.message())};
    co_return Status::ok();
  }

  void finish() override { close(); }

  void close() override {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

 private:
  Stream stream_;
};

}  // namespace ambit::http2
