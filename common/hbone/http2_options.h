#pragma once
// Http2Options: HTTP/2 tuning of HBONE connections, the same for both ends (ServerOptions and
// PoolOptions carry one). Windows are the receive windows we advertise: the peer may have at
// most this many bytes not yet taken by the tunnel's reader in flight towards us (per stream /
// in total).

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ambit::hbone {

struct Http2Options {
  uint32_t stream_window = 4u << 20;
  uint32_t connection_window = 16u << 20;
  uint32_t max_header_list_size = 16u << 10;  // larger request header blocks: connection error
  uint32_t max_concurrent_streams = 100;      // advertised in our SETTINGS
  size_t stream_send_buffer = 256u << 10;     // bytes queued per stream before write() waits
  // A connection with no open stream for this long is closed (GOAWAY first).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // A request/response header block still incomplete this long after its first byte closes
  // the connection (http2::ConnectionOptions::header_timeout; 0: no limit).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // A tunnel with bytes waiting to be sent and none taken by the peer (its HTTP/2 window stays
  // shut) for this long is reset with RST_STREAM CANCEL and its TCP side closed; a connection
  // whose writes the peer does not take for this long is closed. Quiet tunnels (nothing
  // waiting) are not affected. 60 s: a live reader takes bytes within seconds, while a peer that
  // stopped reading would otherwise hold the tunnel and its stream_send_buffer forever
  // (http2::ConnectionOptions::send_stall_timeout; 0: no limit).
  std::chrono::milliseconds send_stall_timeout{std::chrono::seconds(60)};
};

// What a timeout ended, for metrics (ServerOptions::on_timeout, PoolOptions::on_timeout).
enum class HboneTimeout {
  kHandshake,  // a TLS handshake (server) not finished in time: the connection was closed
  kHeader,     // an HTTP/2 header block not complete in time: the connection was closed
  kSendStall,  // a tunnel reset, or a connection closed, for a send stall
};

// "handshake", "header", "send_stall": the reason label of ambit_hbone_timeouts_total.
const char* timeoutReason(HboneTimeout timeout);

}  // namespace ambit::hbone
