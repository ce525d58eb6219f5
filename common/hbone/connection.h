#pragma once
// Internal: HboneConnection, one HBONE HTTP/2 connection (over an established TLS connection) and
// its CONNECT tunnels, shared by HboneServer and HboneClientPool. Not part of the public API.
//
// The HTTP/2 machinery (session, SETTINGS, read/write loops, GOAWAY, PING, idle) is
// http2::Connection's; this layer adds what HBONE means: a request on the server is a CONNECT
// whose stream becomes a tunnel (StreamState, read by HboneStream), a client opens tunnels,
// receive windows are returned only as the tunnel's reader takes bytes, and a header block over
// Http2Options::max_header_list_size ends the connection (ENHANCE_YOUR_CALM). Idle means no
// tunnel open (IdlePolicy::kNoOpenStreams); a tunnel whose bytes wait for the peer's window longer
// than Http2Options::send_stall_timeout is reset (http2::ConnectionOptions::send_stall_timeout).
//
// Thread model: a connection and all its streams live on the executor of their socket (a
// single-threaded io_context or a strand); call everything there.

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/hbone/http2_options.h"
#include "common/hbone/protocol.h"
#include "common/hbone/tls_transport.h"
#include "common/http2/connection.h"
#include "common/status.h"

namespace ambit::hbone::detail {

class StreamState;

struct ConnectionHooks {
  // Server: a request header block arrived on a new stream.
  std::function<void(std::shared_ptr<StreamState>)> on_request;
  // Either side: the peer sent GOAWAY (no new streams on this connection).
  std::function<void()> on_goaway;
  std::function<void()> on_ping_ack;
  // The peer's SETTINGS frame arrived (its limits, e.g. max concurrent streams, are known).
  std::function<void()> on_settings;
  // A header or send-stall timeout ended the connection or a tunnel (for metrics).
  std::function<void(HboneTimeout)> on_timeout;
  // The connection closed (for whatever reason).
  std::function<void()> on_closed;
};

class HboneConnection final : public http2::Connection {
 public:
  // `tls` has finished its handshake; `peer_identity` is the peer's verified SPIFFE id.
  HboneConnection(std::unique_ptr<TlsTransport> tls, http2::Role role, Http2Options options,
                  std::string peer_identity, ConnectionHooks hooks);
  // Over any byte stream that already carries the decrypted HTTP/2 (the TLS constructor wraps
  // its stream in one; the fuzzer feeds memory); `remote` names the peer in logs and requests.
  HboneConnection(std::unique_ptr<http2::Transport> transport, asio::ip::tcp::endpoint remote,
                  asio::any_io_executor executor, http2::Role role, Http2Options options,
                  std::string peer_identity, ConnectionHooks hooks);

  // Client: opens a CONNECT stream. The stream's data provider is attached from the start.
  Result<std::shared_ptr<StreamState>> openTunnel(const Headers& headers);
  // Server: answers a request; with `tunnel` DATA follows from the stream's send buffer.
  Status respond(StreamState& stream, int status, bool tunnel);

  size_t streamCount() const { return streams_.size(); }
  const std::string& peerIdentity() const { return peer_identity_; }
  const asio::ip::tcp::endpoint& remoteEndpoint() const { return remote_; }
  const Http2Options& options() const { return options_; }

 private:
  // What HBONE makes of the core's events (called by http2::Connection only).
  void onRequestBegin(int32_t stream_id) override;  // server: a CONNECT stream's StreamState
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  void onFrameReceived(const nghttp2_frame& frame) override;  // -> hooks, END_STREAM
  void onData(int32_t stream_id, const uint8_t* data, size_t len) override;
  void onStreamClosed(int32_t stream_id, uint32_t error_code) override;
  void onClosed() override;  // every tunnel sees a reset, then hooks.on_closed
  size_t openStreams() const override { return streams_.size(); }
  void pendingSends(std::vector<http2::PendingSend>& out) const override;
  void onTimeout(http2::Timeout kind, int32_t stream_id) override;  // -> the tunnel, hooks

  HboneConnection(asio::ip::tcp::endpoint remote, asio::any_io_executor executor,
                  std::unique_ptr<TlsTransport>&& tls, http2::Role role, Http2Options options,
                  std::string peer_identity, ConnectionHooks hooks);
  std::shared_ptr<HboneConnection> self();
  StreamState* stream(int32_t id) const { return static_cast<StreamState*>(streamData(id)); }

  Http2Options options_;
  std::string peer_identity_;
  ConnectionHooks hooks_;
  asio::ip::tcp::endpoint remote_;
  std::map<int32_t, std::shared_ptr<StreamState>> streams_;
};

}  // namespace ambit::hbone::detail
