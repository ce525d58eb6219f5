#include "common/hbone/connection.h"

#include "common/hbone/stream_state.h"
#include "common/log.h"

namespace ambit::hbone {

const char* timeoutReason(HboneTimeout timeout) {
  switch (timeout) {
    case HboneTimeout::kHandshake:
      return "handshake";
    case HboneTimeout::kHeader:
      return "header";
    case HboneTimeout::kSendStall:
      return "send_stall";
  }
  return "unknown";
}

}  // namespace ambit::hbone

namespace ambit::hbone::detail {
namespace {

asio::ip::tcp::endpoint remoteOf(TlsTransport& tls) {
  boost::system::error_code ec;
  return tls.socket().remote_endpoint(ec);
}

http2::ConnectionOptions toConnectionOptions(const Http2Options& o,
                                             const asio::ip::tcp::endpoint& remote) {
  http2::ConnectionOptions c;
  c.max_concurrent_streams = o.max_concurrent_streams;
  c.stream_window = o.stream_window;
  c.connection_window = o.connection_window;
  c.max_header_list_size = o.max_header_list_size;
  c.manual_window_update = true;  // a tunnel's window reopens as its reader takes bytes
  c.max_send_header_block = o.max_header_list_size + 1024;
  c.idle_timeout = o.idle_timeout;
  c.idle_policy = http2::IdlePolicy::kNoOpenStreams;
  c.header_timeout = o.header_timeout;
  c.send_stall_timeout = o.send_stall_timeout;
  c.log_name = "HBONE " + remote.address().to_string();
  return c;
}

}  // namespace

HboneConnection::HboneConnection(std::unique_ptr<TlsTransport> tls, http2::Role role,
                                 Http2Options options, std::string peer_identity,
                                 ConnectionHooks hooks)
    : HboneConnection(remoteOf(*tls), tls->socket().get_executor(), std::move(tls), role, options,
                      std::move(peer_identity), std::move(hooks)) {}

// `tls` is an rvalue reference so that the arguments above are read before it is moved.
HboneConnection::HboneConnection(asio::ip::tcp::endpoint remote, asio::any_io_executor executor,
                                 std::unique_ptr<TlsTransport>&& tls, http2::Role role,
                                 Http2Options options, std::string peer_identity,
                                 ConnectionHooks hooks)
    : HboneConnection(std::unique_ptr<http2::Transport>(std::move(tls)), remote,
                      std::move(executor), role, options, std::move(peer_identity),
                      std::move(hooks)) {}

HboneConnection::HboneConnection(std::unique_ptr<http2::Transport> transport,
                                 asio::ip::tcp::endpoint remote, asio::any_io_executor executor,
                                 http2::Role role, Http2Options options, std::string peer_identity,
                                 ConnectionHooks hooks)
    : http2::Connection(std::move(transport), std::move(executor), role,
                        toConnectionOptions(options, remote)),
      options_(options),
      peer_identity_(std::move(peer_identity)),
      hooks_(std::move(hooks)),
      remote_(remote) {}

std::shared_ptr<HboneConnection> HboneConnection::self() {
  return std::static_pointer_cast<HboneConnection>(shared_from_this());
}

void HboneConnection::onRequestBegin(int32_t stream_id) {
  auto state = std::make_shared<StreamState>(self(), stream_id);
  setStreamData(stream_id, state.get());
  streams_[stream_id] = std::move(state);
}

int HboneConnection::onHeader(const nghttp2_frame& frame, std::string_view name,
                              std::string_view value) {
  StreamState* st = stream(frame.hd.stream_id);
  if (st == nullptr) return 0;
  if (!st->addHeader(name, value, options_.max_header_list_size)) {
    logWarn("{}: header block over {} bytes, closing connection", logName(),
            options_.max_header_list_size);
    terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

void HboneConnection::onFrameReceived(const nghttp2_frame& frame) {
  StreamState* st = frame.hd.stream_id ? stream(frame.hd.stream_id) : nullptr;
  switch (frame.hd.type) {
    case NGHTTP2_HEADERS:
      if (st != nullptr && role() == http2::Role::kServer &&
          frame.headers.cat == NGHTTP2_HCAT_REQUEST && hooks_.on_request) {
        hooks_.on_request(streams_[frame.hd.stream_id]);
      } else if (st != nullptr && role() == http2::Role::kClient) {
        st->onResponseHeaders();
      }
      break;
    case NGHTTP2_GOAWAY:
      if (hooks_.on_goaway) hooks_.on_goaway();
      break;
    case NGHTTP2_SETTINGS:
      if (!(frame.hd.flags & NGHTTP2_FLAG_ACK) && hooks_.on_settings) hooks_.on_settings();
      break;
    case NGHTTP2_PING:
      if ((frame.hd.flags & NGHTTP2_FLAG_ACK) && hooks_.on_ping_ack) hooks_.on_ping_ack();
      break;
    default:
      break;
  }
  if (st != nullptr && (frame.hd.type == NGHTTP2_HEADERS || frame.hd.type == NGHTTP2_DATA) &&
      (frame.hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    st->onRemoteEnd();
  }
}

void HboneConnection::onData(int32_t stream_id, const uint8_t* data, size_t len) {
  StreamState* st = stream(stream_id);
  if (st != nullptr && !st->closed()) {
    st->onData(data, len);
  } else {
    consumeConnection(len);  // nobody will read it: a stream reset before nghttp2 closed it
  }
}

void HboneConnection::pendingSends(std::vector<http2::PendingSend>& out) const {
  for (const auto& [id, st] : streams_) {
    if (size_t waiting = st->sendWaiting(); waiting > 0) {
      out.push_back({id, waiting, st->lastSendProgress()});
    }
  }
}

void HboneConnection::onTimeout(http2::Timeout kind, int32_t stream_id) {
  if (kind == http2::Timeout::kSendStall && stream_id > 0) {
    if (auto it = streams_.find(stream_id); it != streams_.end()) it->second->onStalled();
  }
  if (hooks_.on_timeout) {
    hooks_.on_timeout(kind == http2::Timeout::kHeader ? HboneTimeout::kHeader
                                                      : HboneTimeout::kSendStall);
  }
}

void HboneConnection::onStreamClosed(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  auto st = std::move(it->second);
  streams_.erase(it);
  st->onClosed(error_code);
}

void HboneConnection::onClosed() {
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) st->onClosed(NGHTTP2_INTERNAL_ERROR);
  if (hooks_.on_closed) hooks_.on_closed();
}

Result<std::shared_ptr<StreamState>> HboneConnection::openTunnel(const Headers& headers) {
  if (closed() || goawayReceived()) return makeError("HBONE connection is going away");
  http2::HeaderList fields;
  for (const auto& h : headers) fields.addView(h.name, h.value);
  // The stream id is known only after submission.
  auto state = std::make_shared<StreamState>(self(), 0);
  nghttp2_data_provider provider = state->dataProvider();
  int32_t id = submitRequest(fields, &provider, state.get());
  if (id < 0) return makeError("nghttp2_submit_request: {}", nghttp2_strerror(id));
  state->setId(id);
  streams_[id] = state;
  return state;
}

Status HboneConnection::respond(StreamState& stream, int status, bool tunnel) {
  if (closed() || stream.closed()) return makeError("stream {} already closed", stream.id());
  const std::string value = std::to_string(status);
  http2::HeaderList fields;
  fields.addView(":status", value);
  nghttp2_data_provider provider = stream.dataProvider();
  return submitResponse(stream.id(), fields, tunnel ? &provider : nullptr);
}

}  // namespace ambit::hbone::detail
