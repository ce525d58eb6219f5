#pragma once
// TunnelTransport: an http2::Transport over one HBONE tunnel, for HTTP/2 spoken inside the
// tunnel (the waypoint's h2c). Finishing sends END_STREAM on the tunnel and then waits, at
// most `linger`, for the peer to end its direction too before resetting the tunnel: dropping
// it at once would reset it and could lose the last frames (our GOAWAY).
//
// Thread model: the tunnel's executor; the transport owns the stream.

#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "common/hbone/stream.h"
#include "common/http2/transport.h"

namespace ambit::hbone {

class TunnelTransport final : public http2::Transport {
 public:
  static constexpr std::chrono::milliseconds kDefaultLinger{2000};

  TunnelTransport(HboneStream stream, const asio::any_io_executor& executor,
                  std::chrono::milliseconds linger = kDefaultLinger)
      : stream_(std::move(stream)), linger_timer_(executor), linger_(linger) {}

  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) override;
  asio::awaitable<Status> write(asio::const_buffer data) override;
  void finish() override;
  void close() override { stream_.reset(); }

 private:
  HboneStream stream_;
  asio::steady_timer linger_timer_;
  std::chrono::milliseconds linger_;
  bool input_ended_ = false;
};

}  // namespace ambit::hbone
