#include "waypoint/h2_session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <cctype>
#include <cstring>
#include <set>

#include "common/log.h"

namespace ambit::waypoint {
namespace {

using boost::system::error_code;
constexpr size_t kReadChunk = 32u << 10;
constexpr size_t kWriteBatch = 64u << 10;
constexpr auto kDrainWait = std::chrono::seconds(2);

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Fields that are about one HTTP/1.1 connection and never travel in HTTP/2 (RFC 9113 §8.2.2).
bool connectionSpecific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade" || lower_name == "te" || lower_name == "host" ||
         lower_name == "trailer";
}

// Name/value storage for an nghttp2_nv array (nghttp2 copies them on submit).
class NvList {
 public:
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), value); }
  std::vector<nghttp2_nv> nva() {
    std::vector<nghttp2_nv> out;
    out.reserve(fields_.size());
    for (auto& [n, v] : fields_) {
      nghttp2_nv nv{};
      nv.name = reinterpret_cast<uint8_t*>(n.data());
      nv.namelen = n.size();
      nv.value = reinterpret_cast<uint8_t*>(v.data());
      nv.valuelen = v.size();
      nv.flags = NGHTTP2_NV_FLAG_NONE;
      out.push_back(nv);
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

// The names a message's `Trailer` header lists, lowercase.
std::set<std::string, std::less<>> declaredTrailers(const http::fields& fields) {
  std::set<std::string, std::less<>> names;
  for (const auto& f : fields) {
    if (f.name() != http::field::trailer) continue;
    std::string_view list = view(f.value());
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t comma = std::min(list.find(',', pos), list.size());
      std::string_view name = list.substr(pos, comma - pos);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (!name.empty()) names.insert(lower(name));
      pos = comma + 1;
    }
  }
  return names;
}

}  // namespace

bool isHttp2AppProtocol(std::string_view p) {
  return p == "http2" || p == "grpc" || p == "grpc-web" || p == "h2c" || p == "kubernetes.io/h2c";
}

// nghttp2 callbacks; user_data is the H2Session.
struct H2Session::Callbacks {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static Stream* find(H2Session& s, int32_t id) {
    auto it = s.streams_.find(id);
    return it == s.streams_.end() ? nullptr : it->second.get();
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Session& s = self(user_data);
    if (s.role_ != Role::kServer || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (s.handling_ >= s.options_.max_concurrent_streams) {
      // Streams reset by the client still have handlers running: refuse until they finish.
      nghttp2_submit_rst_stream(s.session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    auto st = std::make_shared<Stream>();
    st->id = frame->hd.stream_id;
    st->done = std::make_unique<hbone::detail::Signal>(s.executor_);
    s.streams_[st->id] = std::move(st);
    s.last_activity_ = std::chrono::steady_clock::now();
    return 0;
  }

  static int onHeader(nghttp2_session* ng, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
    H2Session& s = self(user_data);
    Stream* st = find(s, frame->hd.stream_id);
    if (st == nullptr) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    st->wire_bytes += namelen + valuelen;
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_overflow) return 0;
    if (st->header_bytes > s.options_.limits.header_bytes) {
      st->header_overflow = true;
      if (s.role_ == Role::kClient) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
      }
      return 0;
    }
    // A HEADERS block after the request/response headers is trailers, except the final
    // response headers that follow a 1xx (also category HEADERS in nghttp2).
    const bool trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS &&
                         (s.role_ == Role::kServer || st->final_headers_done);
    if (n == ":method") {
      st->method = v;
    } else if (n == ":path") {
      st->path = v;
    } else if (n == ":authority") {
      st->authority = v;
    } else if (n == ":scheme") {
      st->scheme = v;
    } else if (n == ":status") {
      st->status = 0;
      for (char c : v) st->status = st->status * 10 + static_cast<unsigned>(c - '0');
      st->headers.clear();  // a final response replaces any 1xx fields
    } else if (trailer) {
      st->trailers.emplace_back(n, v);
    } else {
      st->headers.emplace_back(n, v);
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user_data) {
    H2Session& s = self(user_data);
    Stream* st = find(s, id);
    if (st == nullptr) return 0;
    st->wire_bytes += len;
    if (st->body_overflow) return 0;
    if (st->body.size() + len > s.options_.limits.body_bytes) {
      st->body_overflow = true;
      st->body.clear();
      if (s.role_ == Role::kServer) {
        s.dispatch(s.streams_[id]);
      } else {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      }
      return 0;
    }
    if (s.role_ == Role::kServer && s.buffered_ + len > s.options_.limits.body_bytes) {
      // Over the session's budget for unanswered request bodies: refused, nothing processed.
      s.release(*st);
      st->body.clear();
      st->body_overflow = true;
      st->dispatched = true;  // never handed over
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    st->body.append(reinterpret_cast<const char*>(data), len);
    if (s.role_ == Role::kServer) {
      st->accounted += len;
      s.buffered_ += len;
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Session& s = self(user_data);
    s.last_activity_ = std::chrono::steady_clock::now();
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      s.goaway_received_ = true;
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    auto it = s.streams_.find(frame->hd.stream_id);
    if (it == s.streams_.end()) return 0;
    std::shared_ptr<Stream> st = it->second;
    if (frame->hd.type == NGHTTP2_HEADERS && s.role_ == Role::kClient && st->status >= 200)
      st->final_headers_done = true;
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      st->complete = true;
      if (s.role_ == Role::kServer) s.dispatch(st);
      st->done->notify();
    } else if (s.role_ == Role::kServer && st->header_overflow) {
      s.dispatch(st);
    }
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user_data) {
    H2Session& s = self(user_data);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    std::shared_ptr<Stream> st = std::move(it->second);
    s.streams_.erase(it);
    if (!st->dispatched) s.release(*st);  // a dispatched one is released when answered
    st->closed = true;
    st->close_code = error_code;
    st->done->notify();
    s.last_activity_ = std::chrono::steady_clock::now();
    return 0;
  }

  // Our response ended while the client is still sending (e.g. 413 before the body ended):
  // RST_STREAM NO_ERROR tells it to stop (RFC 9113 §8.1).
  static int onFrameSend(nghttp2_session* ng, const nghttp2_frame* frame, void* user_data) {
    H2Session& s = self(user_data);
    s.last_activity_ = std::chrono::steady_clock::now();
    if (s.role_ != Role::kServer || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)) {
      return 0;
    }
    Stream* st = find(s, frame->hd.stream_id);
    if (st != nullptr && !st->complete) {
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int onError(nghttp2_session*, int code, const char* msg, size_t len, void*) {
    logDebug("waypoint: HTTP/2 in tunnel: error {}: {}", code, std::string_view(msg, len));
    return 0;
  }
};

H2Session::H2Session(hbone::HboneStream transport, Role role, H2Options options,
                     RequestHandler on_request, asio::any_io_executor executor)
    : transport_(std::move(transport)),
      role_(role),
      options_(options),
      on_request_(std::move(on_request)),
      executor_(executor),
      write_signal_(executor),
      writer_signal_(executor),
      idle_timer_(executor),
      drain_timer_(executor),
      last_activity_(std::chrono::steady_clock::now()) {}

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
  int rv = role_ == Role::kServer ? nghttp2_session_server_new2(&session_, cbs, this, opt)
                                  : nghttp2_session_client_new2(&session_, cbs, this, opt);
  if (rv != 0) return makeError("nghttp2 session: {}", nghttp2_strerror(rv));
  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.limits.header_bytes},
  };
  if (role_ == Role::kClient) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<int32_t>(options_.connection_window));
  }
  if (rv != 0) return makeError("nghttp2 SETTINGS: {}", nghttp2_strerror(rv));
  if (shutdown_requested_) shutdown();  // drained before it started
  return Status::ok();
}

asio::awaitable<void> H2Session::run(std::string already_read) {
  auto self = shared_from_this();
  if (Status st = start(); !st) {
    logWarn("waypoint: HTTP/2 in tunnel: {}", st.error().message);
    co_return;
  }
  asio::co_spawn(
      executor_, [self]() { return self->writeLoop(); }, asio::detached);
  asio::co_spawn(
      executor_, [self]() { return self->idleLoop(); }, asio::detached);
  std::vector<uint8_t> buf(kReadChunk);
  std::string_view pending = already_read;
  bool rejected = false;  // bad input: GOAWAY is on its way, the rest is not parsed
  for (;;) {
    size_t n = 0;
    const uint8_t* data = buf.data();
    if (!pending.empty()) {
      data = reinterpret_cast<const uint8_t*>(pending.data());
      n = pending.size();
      pending = {};
    } else {
      auto r = co_await transport_.read(asio::buffer(buf));
      if (!r || *r == 0) break;
      n = *r;
    }
    // Once the session is over, input is discarded until the peer ends the tunnel (bounded by
    // the drain timer): dropping the tunnel earlier would reset it and could lose our GOAWAY.
    if (writer_done_ || rejected) continue;
    ssize_t rv = nghttp2_session_mem_recv(session_, data, n);
    if (rv < 0) {
      logInfo("waypoint: bad HTTP/2 input in tunnel: {}", nghttp2_strerror(static_cast<int>(rv)));
      nghttp2_session_terminate_session(
          session_, rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      rejected = true;
    }
    signalWrite();
  }
  onInputEnded();
  while (!writer_done_) co_await writer_signal_.wait();
  drain_timer_.cancel();
  idle_timer_.cancel();
}

// The tunnel's read side ended: streams still waiting for request (or response) bytes never
// get them; those already complete may still be answered.
void H2Session::onInputEnded() {
  input_ended_ = true;
  std::vector<std::shared_ptr<Stream>> incomplete;
  for (auto& [id, st] : streams_) {
    if (!st->complete) incomplete.push_back(st);
  }
  for (auto& st : incomplete) reset(*st, NGHTTP2_CANCEL);
  signalWrite();
}

asio::awaitable<void> H2Session::writeLoop() {
  std::vector<uint8_t> out;
  out.reserve(kWriteBatch + 16384);
  bool failed = false;
  for (;;) {
    out.clear();
    while (out.size() < kWriteBatch) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        logInfo("waypoint: HTTP/2 in tunnel: {}", nghttp2_strerror(static_cast<int>(n)));
        failed = true;
        break;
      }
      if (n == 0) break;
      out.insert(out.end(), data, data + n);
    }
    if (!out.empty() && !co_await transport_.write(asio::buffer(out))) break;
    if (failed) break;
    if (!out.empty()) continue;
    const bool done = !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
    if (done || (input_ended_ && streams_.empty())) break;
    co_await write_signal_.wait();
  }
  finish();
}

// Nothing more will be written: END_STREAM on the tunnel, then (bounded) wait for the peer's.
void H2Session::finish() {
  writer_done_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    st->closed = true;
    st->close_code = NGHTTP2_INTERNAL_ERROR;
    st->done->notify();
  }
  transport_.shutdownWrite();
  if (!input_ended_) {
    drain_timer_.expires_after(kDrainWait);
    drain_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->transport_.reset();
    });
  }
  writer_signal_.notify();
}

// No frame either way for idle_timeout: an idle session ends with GOAWAY; one with open
// streams is stalled (a peer that stopped reading or sending, an upstream that never answers)
// and its tunnel is reset, which also unblocks a writer stuck on a full window.
asio::awaitable<void> H2Session::idleLoop() {
  auto self = shared_from_this();
  while (!writer_done_) {
    idle_timer_.expires_at(last_activity_ + options_.idle_timeout);
    error_code ec;
    co_await idle_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (writer_done_) break;
    if (std::chrono::steady_clock::now() < last_activity_ + options_.idle_timeout) continue;
    if (streams_.empty()) {
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      signalWrite();
    } else {
      logInfo("waypoint: HTTP/2 session with {} open streams stalled for {}ms, resetting",
              streams_.size(), options_.idle_timeout.count());
      transport_.reset();
    }
    break;
  }
}

void H2Session::dispatch(const std::shared_ptr<Stream>& st) {
  if (st->dispatched || !on_request_) return;
  st->dispatched = true;
  ++handling_;
  on_request_(shared_from_this(), st);
}

void H2Session::release(Stream& st) {
  buffered_ -= std::min<uint64_t>(buffered_, st.accounted);
  st.accounted = 0;
}

bool H2Session::acceptsStreams() const {
  if (writer_done_ || closing_ || goaway_received_ || input_ended_ || session_ == nullptr) {
    return false;
  }
  if (nghttp2_session_get_next_stream_id(session_) > (1u << 30)) return false;
  return streams_.size() <
         nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

ssize_t H2Session::provide(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<Stream*>(source->ptr);
  size_t n = std::min(length, st->out_body.size() - st->out_offset);
  std::memcpy(buf, st->out_body.data() + st->out_offset, n);
  st->out_offset += n;
  if (st->out_offset == st->out_body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!st->out_trailers.empty()) {
      NvList trailers;
      for (auto& [name, value] : st->out_trailers) trailers.add(name, value);
      auto nva = trailers.nva();
      if (nghttp2_submit_trailer(ng, id, nva.data(), nva.size()) == 0) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  return static_cast<ssize_t>(n);
}

Status H2Session::respond(Stream& st, const HttpResponse& response, bool head_request) {
  if (!st.answered) {
    st.answered = true;
    release(st);
    if (st.dispatched && handling_ > 0) --handling_;
  }
  if (writer_done_ || st.closed) return makeError("HTTP/2 stream {} already closed", st.id);
  const unsigned status = response.result_int();
  NvList nv;
  nv.add(":status", std::to_string(status));
  auto trailer_names = declaredTrailers(response.base());
  for (const auto& f : response.base()) {
    std::string name = lower(view(f.name_string()));
    if (connectionSpecific(name)) continue;
    if (trailer_names.count(name)) {
      st.out_trailers.emplace_back(std::move(name), std::string(view(f.value())));
    } else {
      nv.add(std::move(name), std::string(view(f.value())));
    }
  }
  const bool no_body = head_request || status < 200 || status == 204 || status == 304;
  if (!no_body) st.out_body = response.body();
  nghttp2_data_provider provider{};
  provider.source.ptr = &st;
  provider.read_callback = &H2Session::provide;
  const bool send_data = !no_body && (!st.out_body.empty() || !st.out_trailers.empty());
  auto nva = nv.nva();
  int rv = nghttp2_submit_response(session_, st.id, nva.data(), nva.size(),
                                   send_data ? &provider : nullptr);
  if (rv != 0) {
    reset(st, NGHTTP2_INTERNAL_ERROR);  // the stream must not stay open without an answer
    return makeError("nghttp2_submit_response: {}", nghttp2_strerror(rv));
  }
  signalWrite();
  return Status::ok();
}

Result<std::shared_ptr<H2Session::Stream>> H2Session::submit(const HttpRequest& request) {
  if (!acceptsStreams()) return Error{ECONNRESET, "upstream HTTP/2 connection is going away"};
  auto st = std::make_shared<Stream>();
  st->done = std::make_unique<hbone::detail::Signal>(executor_);
  NvList nv;
  std::string target(view(request.target()));
  nv.add(":method", std::string(view(request.method_string())));
  nv.add(":scheme", "http");
  nv.add(":authority", std::string(view(request[http::field::host])));
  nv.add(":path", target.empty() ? "/" : target);
  bool grpc = false;
  for (const auto& f : request.base()) {
    std::string name = lower(view(f.name_string()));
    if (connectionSpecific(name)) continue;
    if (name == "content-type" && view(f.value()).starts_with("application/grpc")) grpc = true;
    nv.add(std::move(name), std::string(view(f.value())));
  }
  if (grpc) nv.add("te", "trailers");  // gRPC servers require it; HTTP/1.1 hops dropped it
  st->out_body = request.body();
  nghttp2_data_provider provider{};
  provider.source.ptr = st.get();
  provider.read_callback = &H2Session::provide;
  auto nva = nv.nva();
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                      st->out_body.empty() ? nullptr : &provider, nullptr);
  if (id < 0)
    return Error{ECONNRESET, fmt::format("nghttp2_submit_request: {}", nghttp2_strerror(id))};
  st->id = id;
  streams_[id] = st;
  last_activity_ = std::chrono::steady_clock::now();
  signalWrite();
  return st;
}

void H2Session::reset(Stream& st, uint32_t error_code) {
  if (writer_done_ || st.closed) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st.id, error_code);
  signalWrite();
}

void H2Session::shutdown() {
  if (session_ == nullptr) {
    shutdown_requested_ = true;  // not started yet: start() sends the GOAWAY
    return;
  }
  if (writer_done_ || closing_) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  closing_ = true;
  signalWrite();
}

}  // namespace ambit::waypoint
