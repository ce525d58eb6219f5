#include "common/hbone/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/hbone/stream_state.h"
#include "common/log.h"

namespace ambit::hbone::detail {
namespace {

using boost::system::error_code;
constexpr size_t kWriteBatch = 64u << 10;
constexpr size_t kReadChunk = 32u << 10;

nghttp2_nv makeNv(const std::string& name, const std::string& value) {
  nghttp2_nv nv{};
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

}  // namespace

asio::awaitable<void> Signal::wait() {
  error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// nghttp2 callbacks; user_data is the H2Session.
struct H2Session::Callbacks {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static StreamState* stream(nghttp2_session* s, int32_t id) {
    return static_cast<StreamState*>(nghttp2_session_get_stream_user_data(s, id));
  }

  static int onBeginHeaders(nghttp2_session* s, const nghttp2_frame* frame, void* user_data) {
    H2Session& session = self(user_data);
    if (session.role_ != Role::kServer || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto state = std::make_shared<StreamState>(session.shared_from_this(), frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, state.get());
    session.streams_[frame->hd.stream_id] = std::move(state);
    session.touch();
    return 0;
  }

  static int onHeader(nghttp2_session* s, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
    StreamState* st = stream(s, frame->hd.stream_id);
    if (st == nullptr) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (!st->addHeader(n, v, self(user_data).options_.max_header_list_size)) {
      logWarn("HBONE {}: header block over {} bytes, closing connection",
              self(user_data).remote_.address().to_string(),
              self(user_data).options_.max_header_list_size);
      nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session* s, const nghttp2_frame* frame, void* user_data) {
    H2Session& session = self(user_data);
    StreamState* st = frame->hd.stream_id ? stream(s, frame->hd.stream_id) : nullptr;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (st != nullptr && session.role_ == Role::kServer &&
            frame->headers.cat == NGHTTP2_HCAT_REQUEST && session.hooks_.on_request) {
          session.hooks_.on_request(session.streams_[frame->hd.stream_id]);
        } else if (st != nullptr && session.role_ == Role::kClient) {
          st->onResponseHeaders();
        }
        break;
      case NGHTTP2_GOAWAY:
        session.goaway_received_ = true;
        if (session.hooks_.on_goaway) session.hooks_.on_goaway();
        break;
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && session.hooks_.on_settings) {
          session.hooks_.on_settings();
        }
        break;
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && session.hooks_.on_ping_ack) {
          session.hooks_.on_ping_ack();
        }
        break;
      default:
        break;
    }
    if (st != nullptr && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      st->onRemoteEnd();
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session* s, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t len, void*) {
    if (StreamState* st = stream(s, stream_id)) {
      st->onData(data, len);
    } else {
      nghttp2_session_consume_connection(s, len);
    }
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    self(user_data).removeStream(stream_id, error_code);
    return 0;
  }

  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_GOAWAY) self(user_data).goaway_sent_ = true;
    return 0;
  }

  static int onError(nghttp2_session*, int code, const char* msg, size_t len, void* user_data) {
    logDebug("HBONE {}: HTTP/2 error {}: {}", self(user_data).remote_.address().to_string(), code,
             std::string_view(msg, len));
    return 0;
  }
};

H2Session::H2Session(TlsStream tls, Role role, Http2Options options, std::string peer_identity,
                     SessionHooks hooks)
    : tls_(std::move(tls)),
      role_(role),
      options_(options),
      peer_identity_(std::move(peer_identity)),
      hooks_(std::move(hooks)),
      write_signal_(tls_.get_executor()),
      closed_signal_(tls_.get_executor()),
      idle_timer_(tls_.get_executor()) {
  error_code ec;
  remote_ = tls_.lowest_layer().remote_endpoint(ec);
  touch();
}

H2Session::~H2Session() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

Status H2Session::start() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
    return makeError("nghttp2: out of memory");
  }
  std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)> cbs_guard(
      cbs, nghttp2_session_callbacks_del);
  std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)> opt_guard(opt, nghttp2_option_del);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_error_callback2(cbs, Callbacks::onError);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_send_header_block_length(opt, options_.max_header_list_size + 1024);
  int rv = role_ == Role::kServer ? nghttp2_session_server_new2(&session_, cbs, this, opt)
                                  : nghttp2_session_client_new2(&session_, cbs, this, opt);
  if (rv != 0) return makeError("nghttp2 session: {}", nghttp2_strerror(rv));
  AMBIT_TRY(sendSettings());
  auto self = shared_from_this();
  asio::co_spawn(
      executor(), [self]() { return self->readLoop(); }, asio::detached);
  asio::co_spawn(
      executor(), [self]() { return self->writeLoop(); }, asio::detached);
  asio::co_spawn(
      executor(), [self]() { return self->idleLoop(); }, asio::detached);
  return Status::ok();
}

Status H2Session::sendSettings() {
  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_size},
  };
  if (role_ == Role::kClient) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  int rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<int32_t>(options_.connection_window));
  }
  if (rv != 0) return makeError("nghttp2 SETTINGS: {}", nghttp2_strerror(rv));
  return Status::ok();
}

asio::awaitable<void> H2Session::readLoop() {
  std::vector<uint8_t> buf(kReadChunk);
  while (!closed_) {
    error_code ec;
    size_t n = co_await tls_.async_read_some(asio::buffer(buf),
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) break;
    if (ec) {
      close(ec == asio::error::eof ? "peer closed" : ec.message());
      break;
    }
    ssize_t rv = nghttp2_session_mem_recv(session_, buf.data(), n);
    if (rv < 0) {
      logInfo("HBONE {}: bad HTTP/2 input: {}", remote_.address().to_string(),
              nghttp2_strerror(static_cast<int>(rv)));
      close("bad HTTP/2 input");
      break;
    }
    signalWrite();
  }
}

asio::awaitable<void> H2Session::writeLoop() {
  std::vector<uint8_t> out;
  out.reserve(kWriteBatch + 16384);
  while (!closed_) {
    out.clear();
    while (out.size() < kWriteBatch) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        close(fmt::format("nghttp2_session_mem_send: {}", nghttp2_strerror(static_cast<int>(n))));
        co_return;
      }
      if (n == 0) break;
      out.insert(out.end(), data, data + n);
    }
    if (out.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        close("HTTP/2 session finished");
        break;
      }
      co_await write_signal_.wait();
      continue;
    }
    error_code ec;
    co_await asio::async_write(tls_, asio::buffer(out),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) close(fmt::format("write: {}", ec.message()));
  }
}

// Closes the connection once it had no stream for idle_timeout.
asio::awaitable<void> H2Session::idleLoop() {
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + options_.idle_timeout);
    error_code ec;
    co_await idle_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) break;
    if (!streams_.empty()) {
      touch();
      continue;
    }
    if (std::chrono::steady_clock::now() >= last_activity_ + options_.idle_timeout) {
      logDebug("HBONE {}: idle, closing", remote_.address().to_string());
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      signalWrite();
      break;
    }
  }
}

void H2Session::close(std::string_view why) {
  if (closed_) return;
  logDebug("HBONE {}: connection closed: {}", remote_.address().to_string(), why);
  closed_ = true;
  error_code ec;
  tls_.lowest_layer().close(ec);
  idle_timer_.cancel();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) st->onClosed(NGHTTP2_INTERNAL_ERROR);
  write_signal_.notify();
  closed_signal_.notify();
  if (hooks_.on_closed) hooks_.on_closed();
}

void H2Session::shutdown() {
  if (closed_ || goaway_sent_) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  goaway_sent_ = true;
  signalWrite();
}

asio::awaitable<void> H2Session::waitClosed() {
  auto self = shared_from_this();
  while (!closed_) co_await closed_signal_.wait();
}

void H2Session::removeStream(int32_t id, uint32_t error_code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  auto st = std::move(it->second);
  streams_.erase(it);
  touch();
  st->onClosed(error_code);
}

Result<std::shared_ptr<StreamState>> H2Session::submitRequest(const Headers& headers) {
  if (closed_ || goaway_received_) return makeError("HBONE connection is going away");
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& h : headers) nva.push_back(makeNv(h.name, h.value));
  // The stream id is known only after submission; the provider's source is patched below.
  auto state = std::make_shared<StreamState>(shared_from_this(), 0);
  nghttp2_data_provider provider = state->dataProvider();
  int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, state.get());
  if (id < 0) return makeError("nghttp2_submit_request: {}", nghttp2_strerror(id));
  state->setId(id);
  streams_[id] = state;
  touch();
  signalWrite();
  return state;
}

Status H2Session::submitResponse(StreamState& stream, int status, bool tunnel) {
  if (closed_ || stream.closed()) return makeError("stream {} already closed", stream.id());
  std::string name = ":status";
  std::string value = std::to_string(status);
  nghttp2_nv nv = makeNv(name, value);
  nghttp2_data_provider provider = stream.dataProvider();
  int rv = nghttp2_submit_response(session_, stream.id(), &nv, 1, tunnel ? &provider : nullptr);
  if (rv != 0) return makeError("nghttp2_submit_response: {}", nghttp2_strerror(rv));
  signalWrite();
  return Status::ok();
}

uint32_t H2Session::peerMaxConcurrentStreams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void H2Session::submitPing() {
  if (closed_) return;
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  signalWrite();
}

}  // namespace ambit::hbone::detail
