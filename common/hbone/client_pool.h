#pragma once
// HboneClientPool: the outbound HBONE side. Opens CONNECT tunnels to a peer's HBONE endpoint
// (ip:15008) over pooled mTLS HTTP/2 connections, presenting the source workload's certificate
// and checking the server's SPIFFE id.
//
// Pooling (DESIGN.md §4): connections are keyed by (source identity, source scope, destination
// address) and
// multiplexed up to min(max_streams_per_connection, the server's SETTINGS_MAX_CONCURRENT_
// STREAMS); past that a new connection is opened. A connection that received GOAWAY takes no
// new streams, and a CONNECT the server did not process (REFUSED_STREAM, or above the GOAWAY's
// last-stream-id: it began to drain meanwhile) is sent again on another connection (up to 3
// tries in all); one with no stream for Http2Options::idle_timeout is closed; an HTTP/2 PING
// every keepalive_interval must be answered within keepalive_timeout or the connection closes.
//
// Thread model: the pool and every connection it opens run on the executor given to the
// constructor (a single-threaded io_context); call it from there only. Run one pool per
// io_context thread. Streams returned by connect() belong to that executor too.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/hbone/http2_options.h"
#include "common/hbone/protocol.h"
#include "common/hbone/stream.h"
#include "common/hbone/tls.h"
#include "common/status.h"

namespace ambit::hbone {

// The mark on every socket the ztunnel opens, so the capture programs never loop it back.
inline constexpr uint32_t kZtunnelSocketMark = 0x539;

// Returns an unconnected TCP socket fd of `family` (AF_INET/AF_INET6), e.g. created inside a
// pod's network namespace. The pool takes ownership of the fd.
using SocketFactory = std::function<Result<int>(int family)>;

struct PoolOptions {
  Http2Options http2;
  uint32_t max_streams_per_connection = 100;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};     // TCP connect
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};   // TLS + SETTINGS
  std::chrono::milliseconds response_timeout{std::chrono::seconds(30)};    // CONNECT -> status
  std::chrono::milliseconds keepalive_interval{std::chrono::seconds(30)};  // 0: no PINGs
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(10)};
  std::optional<uint32_t> socket_mark;  // SO_MARK (kZtunnelSocketMark in the ztunnel)
  // Called for each tunnel reset (or connection closed) by the send-stall timeout
  // (Http2Options::send_stall_timeout) or connection closed by the header timeout.
  std::function<void(HboneTimeout)> on_timeout;
};

struct Destination {
  std::string source_identity;              // pool key, part 1: whose certificate we present
  std::shared_ptr<asio::ssl::context> tls;  // that identity's cert, key and trust store
  asio::ip::tcp::endpoint address;          // pool key, part 2: the peer's HBONE endpoint
  // Pool key, part 3: connections are never shared across scopes. The ztunnel's is the source
  // pod, whose network namespace the socket lives in: a connection opened from one pod must not
  // carry another pod's tunnels (it would leave with the first pod's address, and break when
  // that pod goes), even when both have the same identity.
  std::string source_scope;
  // The server's verified SPIFFE id must be one of these; empty accepts any id the
  // PeerVerifier accepts.
  std::vector<std::string> expected_server_ids;
  SocketFactory socket_factory;  // empty: socket() in the caller's current netns
};

struct TunnelRequest {
  std::string authority;     // final target "ip:port" ([v6]:port); the server validates it
  asio::ip::address source;  // original client address -> `forwarded`; unspecified: omitted
  std::string traceparent;   // empty: a fresh one is generated
  std::string baggage;       // empty: omitted
  Headers extra;             // more request headers (lowercase names)
};

struct PoolStats {
  size_t connections = 0;           // open now
  uint64_t connections_opened = 0;  // since start
  size_t active_streams = 0;
  uint64_t pings_sent = 0;
  uint64_t pings_acked = 0;
};

class HboneClientPool {
 public:
  // `server_verifier` turns the server's verified certificate into its SPIFFE id.
  HboneClientPool(asio::any_io_executor executor, PeerVerifier server_verifier,
                  PoolOptions options = {});
  ~HboneClientPool();  // closes every connection
  HboneClientPool(const HboneClientPool&) = delete;
  HboneClientPool& operator=(const HboneClientPool&) = delete;

  // Opens a tunnel; completes once the server answered 200. A refusal is an error whose
  // message carries the HTTP status ("... refused: HTTP 401").
  asio::awaitable<Result<HboneStream>> connect(const Destination& destination,
                                               const TunnelRequest& request);
  // The same for callers without coroutines: `done` runs on the pool's executor. The
  // arguments are copied into the operation.
  using ConnectCallback = std::function<void(Result<HboneStream>)>;
  void asyncConnect(Destination destination, TunnelRequest request, ConnectCallback done);
  asio::any_io_executor executor() const;
  // Closes every connection (open streams see a reset).
  void close();
  PoolStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ambit::hbone
