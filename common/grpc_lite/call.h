#pragma once
// grpc_lite::Call: one gRPC call, client side, over cleartext HTTP/2 on a local unix socket,
// spoken by ambit's own HTTP/2 core (common/http2/connection.h) instead of the gRPC runtime.
//
// Why: the ztunnel speaks gRPC only to its node agent, over two local sockets (the discovery
// relay and the CA socket). Linking the gRPC runtime for those two calls cost the data-plane
// process ~4 MB of resident code and ten threads of its own (BENCHMARKS.md, session 12); this
// client is a few hundred lines on code the ztunnel carries anyway (nghttp2, asio, protobuf).
// Daemons that talk to ambit-control over TLS keep the gRPC runtime.
//
// The wire protocol is gRPC's "gRPC over HTTP2" document:
//   request   HEADERS  :method POST, :scheme http, :path /package.Service/Method,
//                      :authority localhost, content-type application/grpc, te trailers,
//                      grpc-timeout <n>m when the call has a deadline
//             DATA     length-prefixed messages: flag byte (0: not compressed), 4-byte
//                      big-endian length, the serialized message; END_STREAM on closeSend()
//   response  HEADERS  :status 200, content-type application/grpc...; then messages; then
//                      trailers with grpc-status and grpc-message (percent-encoded), or a single
//                      "trailers-only" HEADERS block carrying the status.
// Failures map to status codes as the document says: a non-200 HTTP status (404 UNIMPLEMENTED,
// 503 UNAVAILABLE...), RST_STREAM (CANCEL: CANCELLED, REFUSED_STREAM: UNAVAILABLE,
// ENHANCE_YOUR_CALM: RESOURCE_EXHAUSTED, others INTERNAL); a socket that cannot be reached or
// that closes mid-call is UNAVAILABLE; a compressed message (we advertise no encoding), a
// message over `max_receive_message` (RESOURCE_EXHAUSTED) or a response without a status end
// the call with a named error. A dead peer shows as EOF on a unix socket; a live one that stopped
// serving is caught by the keepalive PING.
//
// One connection per call: the calls here are one long-lived stream (discovery) and a rare
// unary call (a certificate), so multiplexing would buy nothing.
//
// Thread model: everything runs on the executor given to start() (one thread); call send(),
// closeSend() and cancel() there. Handlers run there too, never from inside the HTTP/2
// machinery, so they may call any method or drop the call.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/grpc_lite/status.h"
#include "common/http2/transport.h"

namespace ambit::grpc_lite {

struct CallOptions {
  std::string address;  // "unix:/path" (the only form: local sockets)
  std::string method;   // "/ambit.v1.DiscoveryService/DeltaStream"
  // The call's deadline from start(); 0: none. Sent as grpc-timeout; on expiry the call ends
  // DEADLINE_EXCEEDED.
  std::chrono::milliseconds timeout{0};
  uint32_t max_receive_message = 64u << 20;  // larger messages end the call RESOURCE_EXHAUSTED
  // A PING every `keepalive`; no answer within `keepalive_timeout` ends the call UNAVAILABLE (a
  // peer that accepts and then stops serving: gRPC's keepalive, the old client's 30 s / 10 s).
  // 0: none.
  std::chrono::milliseconds keepalive{std::chrono::seconds(30)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(10)};
  uint32_t stream_window = 4u << 20;  // our HTTP/2 receive windows
  uint32_t connection_window = 16u << 20;
};

// Checks an address for CallOptions: "unix:" followed by an absolute path.
bool isUnixSocketAddress(std::string_view address);

class Call : public std::enable_shared_from_this<Call> {
 public:
  struct Handlers {
    // Each response message, serialized, in order.
    std::function<void(std::string message)> message;
    // Once, last: the call's status (after cancel() too).
    std::function<void(CallStatus status)> done;
  };

  // Starts the call: connects, sends the request headers, then what send() queues. The call
  // keeps itself alive until it is done (cancel() ends it early); the pointer may be dropped.
  static std::shared_ptr<Call> start(boost::asio::any_io_executor executor, CallOptions options,
                                     Handlers handlers);
  ~Call();
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // Queues one serialized request message. Ignored after closeSend() or once done.
  void send(std::string_view message);
  // No more request messages (END_STREAM after the queued ones).
  void closeSend();
  // Ends the call now with `status` (default CANCELLED): the stream is reset, no message
  // handler runs from here on, done runs once. No effect once done.
  void cancel(CallStatus status = {StatusCode::kCancelled, "cancelled by the client"});
  bool finished() const { return finished_; }

  class Conn;  // the HTTP/2 connection (call.cc)

 private:
  struct Private {};

 public:
  Call(Private, boost::asio::any_io_executor executor, CallOptions options, Handlers handlers);

 private:
  friend class Conn;
  void begin();
  void connected(std::unique_ptr<http2::Transport> transport);
  static boost::asio::awaitable<void> keepalive(std::weak_ptr<Call> call, std::weak_ptr<Conn> conn,
                                                CallOptions options);
  // Ends the call with `status` once: resets the stream if open, ends the connection, posts
  // done.
  void finish(CallStatus status);
  void deliver(std::string message);
  // From the connection's hooks.
  void onHeader(bool trailers, std::string_view name, std::string_view value);
  void onHeadersEnd(bool trailers, bool end_stream);
  void onData(const uint8_t* data, size_t len);
  void onStreamClosed(uint32_t error_code);
  void onConnectionClosed(std::string_view why);
  // nghttp2's data provider for the request body.
  long provide(uint8_t* buf, size_t length, uint32_t* flags);

  boost::asio::any_io_executor executor_;
  CallOptions options_;
  Handlers handlers_;
  std::shared_ptr<Call> self_;  // until finished
  std::shared_ptr<Conn> conn_;
  boost::asio::steady_timer deadline_;
  int32_t stream_id_ = 0;
  std::deque<std::string> out_;  // framed request messages not yet handed to nghttp2
  size_t out_offset_ = 0;        // of out_.front()
  bool send_closed_ = false;
  bool send_ended_ = false;  // END_STREAM handed to nghttp2
  bool data_deferred_ = false;
  bool finished_ = false;
  bool user_cancelled_ = false;
  // Response state.
  unsigned http_status_ = 0;
  std::string content_type_;
  bool have_grpc_status_ = false;
  int grpc_status_ = 0;
  std::string grpc_message_;
  bool headers_done_ = false;
  std::string in_;        // received bytes of the message being assembled
  size_t in_offset_ = 0;  // parsed up to here
};

// Percent-decodes a grpc-message value (invalid escapes are kept as they are).
std::string decodeGrpcMessage(std::string_view value);

}  // namespace ambit::grpc_lite
