#pragma once
// H2cConnection: cleartext HTTP/2 (h2c, prior knowledge) inside one HBONE tunnel, carrying
// whole buffered messages. The waypoint uses it both ways: as a server for clients that speak
// HTTP/2 to a service (HttpProxy, one connection per terminated tunnel) and as a client towards
// endpoints whose Service port declares HTTP/2 (UpstreamPool, one connection per endpoint,
// shared by concurrent requests).
//
// The HTTP/2 machinery (session, SETTINGS, windows, read/write loops, GOAWAY, idle) is
// http2::Connection's, over the tunnel (hbone::TunnelTransport: END_STREAM when done, then a
// bounded wait for the peer's). This layer adds messages: a request (server) or a response
// (client) is handed over once its END_STREAM arrived. Limits: a header list past
// HttpLimits::header_bytes or a body past body_bytes marks the stream (the server answers
// 431 / 413, the client resets it). Server side, what one client can make the waypoint hold is
// bounded per connection: request body bytes received and not yet answered stay under
// HttpLimits::body_bytes in total (a stream that would pass it is refused with REFUSED_STREAM,
// safe to retry), and at most max_concurrent_streams requests are being handled at once, also
// when their streams were reset (rapid reset: new streams are refused meanwhile). nghttp2
// enforces RFC 9113 message rules (pseudo-headers, connection-specific fields, TE other than
// "trailers", uppercase names: the stream is reset with PROTOCOL_ERROR); connection-level
// protocol errors end in GOAWAY with nghttp2's error code. The connection ends when both sides
// are done (GOAWAY and no open stream) or the tunnel ends. No frame either way for
// `idle_timeout`: an idle connection sends GOAWAY; one with open streams is stalled and its
// tunnel is reset (http2::IdlePolicy::kNoFrames; Envoy's stream idle timeout, also 5 minutes by
// default).
//
// Thread model: a connection and its streams live on the executor of the tunnel; call
// everything there. The connection keeps itself alive while it runs.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/async/signal.h"
#include "common/hbone/stream.h"
#include "common/http2/connection.h"
#include "waypoint/http_codec.h"

namespace ambit::waypoint {

// The client connection preface (RFC 9113 §3.4) that starts a prior-knowledge h2c stream.
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// True when a Service port's appProtocol says the application speaks HTTP/2 in cleartext.
bool isHttp2AppProtocol(std::string_view app_protocol);

struct H2cOptions {
  HttpLimits limits;
  uint32_t max_concurrent_streams = 100;                            // advertised in our SETTINGS
  uint32_t stream_window = 1u << 20;                                // our per-stream receive window
  uint32_t connection_window = 8u << 20;                            // our connection receive window
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};  // see above
  // A header block incomplete this long after its first byte closes the connection (slowloris).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
};

class H2cConnection final : public http2::Connection {
 public:
  // One request/response exchange. The received fields are what the peer sent (the request
  // on the server, the response on the client); out_* is what we send.
  struct Stream {
    int32_t id = 0;
    std::string method, path, authority, scheme;  // request pseudo-headers (server)
    unsigned status = 0;                          // :status (client)
    bool final_headers_done = false;  // client: the final (non-1xx) response headers arrived
    std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
    std::vector<std::pair<std::string, std::string>> trailers;
    std::string body;
    uint64_t wire_bytes = 0;  // header list (RFC 7541 sizes) + body as received
    size_t header_bytes = 0;
    bool header_overflow = false;  // header list past the limit (the rest was dropped)
    bool body_overflow = false;    // body past the limit (the rest was dropped)
    bool complete = false;         // END_STREAM received
    bool closed = false;
    uint32_t close_code = NGHTTP2_NO_ERROR;
    bool dispatched = false;  // server: handed to the request handler
    bool answered = false;    // server: respond() was called (the handler is done with it)
    size_t accounted = 0;     // server: body bytes counted in the connection's budget
    // Outgoing body and trailers (owned here while nghttp2 sends them).
    std::string out_body;
    size_t out_offset = 0;
    std::vector<std::pair<std::string, std::string>> out_trailers;
    std::unique_ptr<Signal> done;  // notified on complete/closed
  };

  // Server: a request is ready (complete, or over a limit: see the overflow flags).
  using RequestHandler =
      std::function<void(std::shared_ptr<H2cConnection>, std::shared_ptr<Stream>)>;

  H2cConnection(hbone::HboneStream tunnel, http2::Role role, H2cOptions options,
                RequestHandler on_request, asio::any_io_executor executor);

  // Server: answers `stream` (no body for HEAD, 1xx, 204, 304). A response `Trailer` header
  // naming fields moves them to HTTP/2 trailers.
  Status respond(Stream& stream, const HttpResponse& response, bool head_request);
  // Client: sends `request` on a new stream; wait on stream->done for the response.
  Result<std::shared_ptr<Stream>> submit(const HttpRequest& request);
  // RST_STREAM.
  void reset(Stream& stream, uint32_t error_code = NGHTTP2_CANCEL);

  // False once over, or either side sent GOAWAY, or the input ended, or the peer's stream
  // limit is reached.
  bool acceptsStreams() const;

 private:
  // Messages out of the core's events (called by http2::Connection only), in the order a
  // request meets them.
  void onRequestBegin(int32_t stream_id) override;  // or REFUSED_STREAM (rapid reset)
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  void onData(int32_t stream_id, const uint8_t* data, size_t len) override;  // body, limits
  void onFrameReceived(const nghttp2_frame& frame) override;                 // END_STREAM: dispatch
  void onFrameSent(const nghttp2_frame& frame) override;
  void onStreamClosed(int32_t stream_id, uint32_t error_code) override;
  void onInputEnded(std::string_view why) override;  // incomplete streams are reset
  void onClosed() override;
  size_t openStreams() const override { return streams_.size(); }

  std::shared_ptr<H2cConnection> self();
  Stream* find(int32_t id) const;
  void dispatch(const std::shared_ptr<Stream>& stream);
  // Server: the stream no longer holds request memory (answered, or closed before dispatch).
  void release(Stream& stream);
  // Server: a body chunk within the limits; false when the connection's budget refused it.
  bool admitBody(Stream& stream, size_t len);
  static ssize_t provide(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                         nghttp2_data_source* source, void* user_data);

  H2cOptions options_;
  RequestHandler on_request_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
  uint64_t buffered_ = 0;  // server: request body bytes received and not yet answered
  size_t handling_ = 0;    // server: requests dispatched and not yet answered
};

// The request a server stream carries, as the proxy pipeline sees it (:authority -> Host,
// cookies joined per RFC 9113 §8.2.3).
// The body is moved out of the stream.
HttpRequest toHttpRequest(H2cConnection::Stream& stream);
// The response a client stream carries; trailers become fields listed in a `Trailer` header.
HttpResponse toHttpResponse(const H2cConnection::Stream& stream);

}  // namespace ambit::waypoint
