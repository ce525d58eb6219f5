#include "common/grpc_lite/call.h"

#include <fmt/format.h>
#include <sys/un.h>

#include <algorithm>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "common/async/spawn.h"
#include "common/http2/asio_transport.h"
#include "common/http2/connection.h"

namespace ambit::grpc_lite {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr size_t kPrefixBytes = 5;  // flag byte + 4-byte length
constexpr uint8_t kCompressedFlag = 0x01;
constexpr size_t kReserveAhead = 4u << 20;

using UnixSocket = asio::local::stream_protocol::socket;

// The gRPC document's mapping of HTTP status codes when a response is not gRPC's 200.
StatusCode fromHttpStatus(unsigned status) {
  switch (status) {
    case 400:
      return StatusCode::kInternal;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kUnknown;
  }
}

// The same document's mapping of RST_STREAM error codes.
StatusCode fromResetCode(uint32_t code) {
  switch (code) {
    case NGHTTP2_REFUSED_STREAM:
      return StatusCode::kUnavailable;
    case NGHTTP2_CANCEL:
      return StatusCode::kCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return StatusCode::kResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY:
      return StatusCode::kPermissionDenied;
    default:
      return StatusCode::kInternal;
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A grpc-timeout value: at most 8 digits and a unit (m: milliseconds).
std::string grpcTimeout(std::chrono::milliseconds timeout) {
  int64_t ms = std::max<int64_t>(1, timeout.count());
  if (ms <= 99'999'999) return fmt::format("{}m", ms);
  return fmt::format("{}S", std::min<int64_t>(ms / 1000, 99'999'999));
}

}  // namespace

std::string codeName(StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  auto n = static_cast<size_t>(code);
  if (n < std::size(kNames)) return std::string(kNames[n]);
  return fmt::format("CODE_{}", static_cast<int>(code));
}

bool isUnixSocketAddress(std::string_view address) {
  return address.starts_with(kUnixPrefix) && address.size() > kUnixPrefix.size() &&
         address[kUnixPrefix.size()] == '/' &&
         address.size() - kUnixPrefix.size() < sizeof(sockaddr_un{}.sun_path);
}

std::string decodeGrpcMessage(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size()) {
      int hi = hexValue(value[i + 1]);
      int lo = hexValue(value[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(value[i]);
  }
  return out;
}

// The call's HTTP/2 connection: forwards the hooks of its one stream to the Call while the
// Call is alive (owner_ is cleared by ~Call; everything runs on one thread).
class Call::Conn final : public http2::Connection {
 public:
  Conn(std::unique_ptr<http2::Transport> transport, asio::any_io_executor executor,
       http2::ConnectionOptions options, Call* owner)
      : Connection(std::move(transport), std::move(executor), http2::Role::kClient,
                   std::move(options)),
        owner_(owner) {}

  void detach() { owner_ = nullptr; }
  bool attached() const { return owner_ != nullptr; }
  Call* owner() const { return owner_; }
  uint64_t pingAcks() const { return ping_acks_; }

 protected:
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override {
    if (owner_ && frame.hd.stream_id == owner_->stream_id_) {
      owner_->onHeader(owner_->headers_done_, name, value);
    }
    return 0;
  }
  void onFrameReceived(const nghttp2_frame& frame) override {
    if (frame.hd.type == NGHTTP2_PING && (frame.hd.flags & NGHTTP2_FLAG_ACK)) ++ping_acks_;
    if (!owner_ || frame.hd.stream_id != owner_->stream_id_) return;
    const bool end_stream = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame.hd.type == NGHTTP2_HEADERS) {
      // A 1xx informational block is followed by the real response headers.
      if (!owner_->headers_done_ && owner_->http_status_ >= 100 && owner_->http_status_ < 200) {
        owner_->http_status_ = 0;
        return;
      }
      owner_->onHeadersEnd(owner_->headers_done_, end_stream);
    } else if (frame.hd.type == NGHTTP2_DATA && end_stream) {
      owner_->finish({StatusCode::kInternal, "the server ended the response without a status"});
    }
  }
  void onData(int32_t stream_id, const uint8_t* data, size_t len) override {
    if (owner_ && stream_id == owner_->stream_id_) owner_->onData(data, len);
  }
  void onStreamClosed(int32_t stream_id, uint32_t error_code) override {
    if (owner_ && stream_id == owner_->stream_id_) owner_->onStreamClosed(error_code);
  }
  void onClosed() override {
    if (owner_) owner_->onConnectionClosed(closeReason());
  }
  size_t openStreams() const override { return owner_ && !owner_->finished_ ? 1 : 0; }

 private:
  Call* owner_;
  uint64_t ping_acks_ = 0;
};

Call::Call(Private, asio::any_io_executor executor, CallOptions options, Handlers handlers)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      deadline_(executor_) {}

Call::~Call() {
  // finish() has ended the connection already (a clean end with its GOAWAY still going out);
  // a call that never finished cannot be destroyed (it holds itself until then).
  if (conn_ && !finished_) {
    conn_->detach();
    conn_->close("call abandoned");
  }
}

std::shared_ptr<Call> Call::start(asio::any_io_executor executor, CallOptions options,
                                  Handlers handlers) {
  auto call = std::make_shared<Call>(Private{}, std::move(executor), std::move(options),
                                     std::move(handlers));
  call->begin();
  return call;
}

void Call::begin() {
  self_ = shared_from_this();
  if (!isUnixSocketAddress(options_.address)) {
    return finish({StatusCode::kInvalidArgument,
                   fmt::format("address '{}' is not unix:/path (at most {} bytes)",
                               options_.address, sizeof(sockaddr_un{}.sun_path) - 1)});
  }
  if (options_.timeout.count() > 0) {
    deadline_.expires_after(options_.timeout);
    deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->finish({StatusCode::kDeadlineExceeded,
                    fmt::format("no answer within {} ms", self->options_.timeout.count())});
    });
  }
  auto connect = [weak = weak_from_this(), executor = executor_,
                  path = options_.address.substr(kUnixPrefix.size())]() -> asio::awaitable<void> {
    UnixSocket socket(executor);
    boost::system::error_code ec;
    co_await socket.async_connect(asio::local::stream_protocol::endpoint(path),
                                  asio::redirect_error(asio::use_awaitable, ec));
    auto self = weak.lock();
    if (!self || self->finished_) co_return;
    if (ec) {
      self->finish({StatusCode::kUnavailable, fmt::format("connect: {}", ec.message())});
      co_return;
    }
    self->connected(std::make_unique<http2::AsioStreamTransport<UnixSocket>>(std::move(socket)));
  };
  spawn(executor_, std::move(connect), "gRPC connect");
}

void Call::connected(std::unique_ptr<http2::Transport> transport) {
  http2::ConnectionOptions o;
  o.stream_window = options_.stream_window;
  o.connection_window = options_.connection_window;
  o.max_concurrent_streams = 1;                   // the server opens none
  o.idle_timeout = std::chrono::hours(24 * 365);  // the call decides when the connection ends
  o.log_name = fmt::format("gRPC {}", options_.address);
  conn_ = std::make_shared<Conn>(std::move(transport), executor_, std::move(o), this);
  if (Status st = conn_->start(); !st) {
    return finish({StatusCode::kInternal, st.message()});
  }
  http2::HeaderList headers;
  headers.addView(":method", "POST");
  headers.addView(":scheme", "http");
  headers.addView(":path", options_.method);
  headers.addView(":authority", "localhost");
  headers.addView("content-type", "application/grpc");
  headers.addView("te", "trailers");
  headers.addView("user-agent", "ambit-grpc-lite");
  if (options_.timeout.count() > 0) headers.add("grpc-timeout", grpcTimeout(options_.timeout));
  // Through the connection, which outlives the call: once the call is gone (detached), the
  // request body just ends.
  nghttp2_data_provider body{};
  body.source.ptr = conn_.get();
  body.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) -> ssize_t {
    Call* owner = static_cast<Conn*>(source->ptr)->owner();
    if (owner == nullptr) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    return owner->provide(buf, length, flags);
  };
  int32_t id = conn_->submitRequest(headers, &body, nullptr);
  if (id < 0) {
    return finish(
        {StatusCode::kInternal, fmt::format("submitting the request: {}", nghttp2_strerror(id))});
  }
  stream_id_ = id;
  spawn(executor_, conn_->run(), "gRPC connection");
  if (options_.keepalive.count() > 0) {
    spawn(executor_, keepalive(weak_from_this(), conn_, options_), "gRPC keepalive");
  }
}

// Holds neither the call nor the connection while it waits.
asio::awaitable<void> Call::keepalive(std::weak_ptr<Call> weak, std::weak_ptr<Conn> weak_conn,
                                      CallOptions options) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto live = [&weak_conn]() -> std::shared_ptr<Conn> {
    auto conn = weak_conn.lock();
    return conn && !conn->closed() && conn->attached() ? conn : nullptr;
  };
  for (;;) {
    boost::system::error_code ec;
    timer.expires_after(options.keepalive);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    uint64_t acks = 0;
    if (auto conn = live()) {
      acks = conn->pingAcks();
      conn->submitPing();
    } else {
      co_return;
    }
    timer.expires_after(options.keepalive_timeout);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto conn = live();
    if (!conn) co_return;
    if (conn->pingAcks() == acks) {
      if (auto self = weak.lock()) {
        self->finish(
            {StatusCode::kUnavailable, fmt::format("no answer to a keepalive PING within {} ms",
                                                   options.keepalive_timeout.count())});
      }
      co_return;
    }
  }
}

long Call::provide(uint8_t* buf, size_t length, uint32_t* flags) {
  size_t n = 0;
  while (n < length && !out_.empty()) {
    const std::string& front = out_.front();
    size_t take = std::min(length - n, front.size() - out_offset_);
    std::memcpy(buf + n, front.data() + out_offset_, take);
    n += take;
    out_offset_ += take;
    if (out_offset_ == front.size()) {
      out_.pop_front();
      out_offset_ = 0;
    }
  }
  if (out_.empty() && send_closed_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    send_ended_ = true;
  } else if (n == 0) {
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<long>(n);
}

void Call::send(std::string_view message) {
  if (finished_ || send_closed_) return;
  std::string framed(kPrefixBytes + message.size(), '\0');
  const auto len = static_cast<uint32_t>(message.size());
  framed[0] = 0;
  framed[1] = static_cast<char>(len >> 24);
  framed[2] = static_cast<char>(len >> 16);
  framed[3] = static_cast<char>(len >> 8);
  framed[4] = static_cast<char>(len);
  std::memcpy(framed.data() + kPrefixBytes, message.data(), message.size());
  out_.push_back(std::move(framed));
  if (data_deferred_ && conn_) {
    data_deferred_ = false;
    conn_->resumeData(stream_id_);
  }
}

void Call::closeSend() {
  if (finished_ || send_closed_) return;
  send_closed_ = true;
  if (data_deferred_ && conn_) {
    data_deferred_ = false;
    conn_->resumeData(stream_id_);
  }
}

void Call::cancel(CallStatus status) {
  if (finished_) return;
  user_cancelled_ = true;
  finish(std::move(status));
}

void Call::finish(CallStatus status) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  out_.clear();
  if (conn_) {
    // Not from inside the HTTP/2 hooks that may have called finish(): the connection is ended
    // from the loop. A clean end leaves nothing open: GOAWAY, and the connection ends by itself.
    conn_->detach();
    // A clean end whose request side is still open (a stream the server finished first) resets
    // it, so the connection holds no stream and ends after its GOAWAY.
    asio::post(executor_, [conn = conn_, id = stream_id_, clean = status.ok(),
                           send_open = !send_ended_, why = status.message] {
      if (conn->closed()) return;
      if (clean) {
        if (id > 0 && send_open) conn->resetStream(id, NGHTTP2_NO_ERROR);
        return conn->shutdown();
      }
      if (id > 0) conn->resetStream(id, NGHTTP2_CANCEL);
      conn->close(why);
    });
  }
  asio::post(executor_, [self = std::move(self_), status = std::move(status)]() mutable {
    auto done = std::move(self->handlers_.done);
    self->handlers_ = {};
    if (done) done(std::move(status));
  });
}

void Call::deliver(std::string message) {
  asio::post(executor_, [weak = weak_from_this(), message = std::move(message)]() mutable {
    auto self = weak.lock();
    if (self && !self->user_cancelled_ && self->handlers_.message) {
      self->handlers_.message(std::move(message));
    }
  });
}

void Call::onHeader(bool trailers, std::string_view name, std::string_view value) {
  if (!trailers && name == ":status") {
    http_status_ = 0;
    for (char c : value) http_status_ = http_status_ * 10 + static_cast<unsigned>(c - '0');
  } else if (!trailers && name == "content-type") {
    content_type_ = value;
  } else if (name == "grpc-status") {
    have_grpc_status_ =
        !value.empty() && value.size() <= 3 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    grpc_status_ = have_grpc_status_ ? std::stoi(std::string(value)) : 0;
    if (!have_grpc_status_) grpc_message_ = fmt::format("malformed grpc-status '{}'", value);
  } else if (name == "grpc-message") {
    grpc_message_ = decodeGrpcMessage(value);
  }
}

void Call::onHeadersEnd(bool trailers, bool end_stream) {
  if (!trailers) {
    headers_done_ = true;
    // A trailers-only answer's grpc-status is the call's status, whatever the HTTP status.
    if (end_stream && have_grpc_status_) {
      return finish({static_cast<StatusCode>(grpc_status_), grpc_message_});
    }
    if (http_status_ != 200) {
      return finish({fromHttpStatus(http_status_),
                     fmt::format("HTTP status {} instead of gRPC's 200", http_status_)});
    }
    if (!content_type_.starts_with("application/grpc")) {
      return finish({StatusCode::kUnknown,
                     fmt::format("content-type '{}' is not application/grpc", content_type_)});
    }
  }
  if (!end_stream) {
    if (trailers) finish({StatusCode::kInternal, "trailers without END_STREAM"});
    return;
  }
  if (!have_grpc_status_) {
    return finish({StatusCode::kUnknown,
                   grpc_message_.empty() ? "the response has no grpc-status" : grpc_message_});
  }
  if (in_.size() > in_offset_) {
    return finish({StatusCode::kInternal,
                   fmt::format("the response ended inside a message ({} bytes left over)",
                               in_.size() - in_offset_)});
  }
  finish({static_cast<StatusCode>(grpc_status_), grpc_message_});
}

void Call::onData(const uint8_t* data, size_t len) {
  if (finished_) return;
  in_.append(reinterpret_cast<const char*>(data), len);
  for (;;) {
    const size_t available = in_.size() - in_offset_;
    if (available < kPrefixBytes) break;
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data() + in_offset_);
    const uint32_t size =
        (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | uint32_t{p[4]};
    if (p[0] & kCompressedFlag) {
      return finish({StatusCode::kInternal,
                     "the server sent a compressed message, but no encoding was offered"});
    }
    if (size > options_.max_receive_message) {
      return finish({StatusCode::kResourceExhausted,
                     fmt::format("a response message of {} bytes is over the limit of {}", size,
                                 options_.max_receive_message)});
    }
    if (available < kPrefixBytes + size) {
      // Room for the whole message at once, not by doubling, but never more than the bytes
      // received so far plus kReserveAhead: a length prefix alone must not allocate 2 GiB.
      in_.reserve(std::min<size_t>(in_offset_ + kPrefixBytes + size, in_.size() + kReserveAhead));
      break;
    }
    deliver(in_.substr(in_offset_ + kPrefixBytes, size));
    in_offset_ += kPrefixBytes + size;
  }
  if (in_offset_ == in_.size()) {
    in_.clear();
    in_offset_ = 0;
    if (in_.capacity() > (64u << 10)) in_.shrink_to_fit();
  } else if (in_offset_ > (64u << 10)) {
    in_.erase(0, in_offset_);
    in_offset_ = 0;
  }
}

void Call::onStreamClosed(uint32_t error_code) {
  if (finished_) return;
  if (error_code != NGHTTP2_NO_ERROR) {
    return finish({fromResetCode(error_code), fmt::format("the server reset the stream ({})",
                                                          nghttp2_http2_strerror(error_code))});
  }
  finish({StatusCode::kInternal, "the stream closed without a status"});
}

void Call::onConnectionClosed(std::string_view why) {
  finish({StatusCode::kUnavailable,
          fmt::format("connection closed{}{}", why.empty() ? "" : ": ", why)});
}

}  // namespace ambit::grpc_lite
