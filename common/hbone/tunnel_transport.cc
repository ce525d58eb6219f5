#include "common/hbone/tunnel_transport.h"

namespace ambit::hbone {

asio::awaitable<Result<size_t>> TunnelTransport::read(asio::mutable_buffer buffer) {
  Result<size_t> n = co_await stream_.read(buffer);
  if (!n || *n == 0) {
    input_ended_ = true;
    linger_timer_.cancel();
  }
  co_return n;
}

asio::awaitable<Status> TunnelTransport::write(asio::const_buffer data) {
  co_return co_await stream_.write(data);
}

void TunnelTransport::finish() {
  stream_.shutdownWrite();
  if (input_ended_) return;
  linger_timer_.expires_after(linger_);
  // A destroyed transport cancels the timer: the handler then only sees the error.
  linger_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) stream_.reset();
  });
}

}  // namespace ambit::hbone
