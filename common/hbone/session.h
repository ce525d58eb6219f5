#pragma once
// Internal: one HTTP/2 connection (nghttp2 session over an established TLS stream), shared by
// HboneServer and HboneClientPool. Not part of the public API; included by server.h and
// client_pool.h for Http2Options.
//
// Thread model: an H2Session and all its streams live on the executor of their socket, which
// must be a single-threaded io_context (or a strand); every method must be called there.
// The session keeps itself alive (shared_from_this) while its I/O loops run.

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/hbone/protocol.h"
#include "common/status.h"

namespace ambit::hbone {

// HTTP/2 tuning shared by both ends. Windows are the receive windows we advertise: the peer
// may have at most this many unconsumed bytes in flight towards us (per stream / in total).
struct Http2Options {
  uint32_t stream_window = 4u << 20;
  uint32_t connection_window = 16u << 20;
  uint32_t max_header_list_size = 16u << 10;  // larger request header blocks: connection error
  uint32_t max_concurrent_streams = 100;      // advertised in our SETTINGS
  size_t stream_send_buffer = 256u << 10;     // bytes queued per stream before write() waits
  // A connection with no open stream for this long is closed (GOAWAY first).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
};

namespace detail {

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

// Level-triggered wake-up for coroutines on one thread: waiters re-check their condition.
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& ex)
      : timer_(ex, asio::steady_timer::time_point::max()) {}
  void notify() { timer_.cancel(); }
  asio::awaitable<void> wait();

 private:
  asio::steady_timer timer_;
};

class StreamState;

struct SessionHooks {
  // Server: a request header block arrived on a new stream.
  std::function<void(std::shared_ptr<StreamState>)> on_request;
  // Either side: the peer sent GOAWAY (no new streams on this connection).
  std::function<void()> on_goaway;
  std::function<void()> on_ping_ack;
  // The peer's SETTINGS frame arrived (its limits, e.g. max concurrent streams, are known).
  std::function<void()> on_settings;
  // The connection closed (for whatever reason).
  std::function<void()> on_closed;
};

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  enum class Role { kClient, kServer };

  H2Session(TlsStream tls, Role role, Http2Options options, std::string peer_identity,
            SessionHooks hooks);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Creates the nghttp2 session, queues our SETTINGS and starts the read/write/idle loops.
  Status start();
  // Closes the socket now; every open stream sees a reset.
  void close(std::string_view why);
  // Sends GOAWAY; open streams may finish, then the connection closes by itself.
  void shutdown();
  // Completes once the connection is closed.
  asio::awaitable<void> waitClosed();

  // Client: opens a CONNECT stream. The stream's data provider is attached from the start.
  Result<std::shared_ptr<StreamState>> submitRequest(const Headers& headers);
  // Server: answers a request; with `tunnel` DATA follows from the stream's send buffer.
  Status submitResponse(StreamState& stream, int status, bool tunnel);

  bool closed() const { return closed_; }
  bool goawayReceived() const { return goaway_received_; }
  bool goawaySent() const { return goaway_sent_; }
  size_t streamCount() const { return streams_.size(); }
  uint32_t peerMaxConcurrentStreams() const;
  const std::string& peerIdentity() const { return peer_identity_; }
  const asio::ip::tcp::endpoint& remoteEndpoint() const { return remote_; }
  const Http2Options& options() const { return options_; }
  asio::any_io_executor executor() { return tls_.get_executor(); }
  nghttp2_session* raw() { return session_; }
  // Wakes the writer after anything queued frames in nghttp2.
  void signalWrite() { write_signal_.notify(); }
  void submitPing();

 private:
  struct Callbacks;
  friend struct Callbacks;

  asio::awaitable<void> readLoop();
  asio::awaitable<void> writeLoop();
  asio::awaitable<void> idleLoop();
  Status sendSettings();
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }
  void removeStream(int32_t id, uint32_t error_code);

  TlsStream tls_;
  Role role_;
  Http2Options options_;
  std::string peer_identity_;
  SessionHooks hooks_;
  asio::ip::tcp::endpoint remote_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::shared_ptr<StreamState>> streams_;
  Signal write_signal_;
  Signal closed_signal_;
  asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  bool closed_ = false;
  bool goaway_received_ = false;
  bool goaway_sent_ = false;
};

}  // namespace detail
}  // namespace ambit::hbone
