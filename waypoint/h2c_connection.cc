#include "waypoint/h2c_connection.h"

#include <boost/beast/http/field.hpp>
#include <cctype>
#include <cstring>
#include <set>

#include "common/hbone/tunnel_transport.h"
#include "common/log.h"

namespace ambit::waypoint {
namespace {

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

// A header list this many times the limit ends the connection (an oversized one gets 431).
constexpr uint64_t kHeaderBombFactor = 16;

http2::ConnectionOptions toConnectionOptions(const H2cOptions& o) {
  http2::ConnectionOptions c;
  c.max_concurrent_streams = o.max_concurrent_streams;
  c.stream_window = o.stream_window;
  c.connection_window = o.connection_window;
  c.max_header_list_size = o.limits.header_bytes;
  c.idle_timeout = o.idle_timeout;
  c.idle_policy = http2::IdlePolicy::kNoFrames;
  c.header_timeout = o.header_timeout;
  c.log_name = "waypoint: HTTP/2 in tunnel";
  return c;
}

}  // namespace

bool isHttp2AppProtocol(std::string_view p) {
  return p == "http2" || p == "grpc" || p == "grpc-web" || p == "h2c" || p == "kubernetes.io/h2c";
}

H2cConnection::H2cConnection(hbone::HboneStream tunnel, http2::Role role, H2cOptions options,
                             RequestHandler on_request, asio::any_io_executor executor)
    : http2::Connection(std::make_unique<hbone::TunnelTransport>(std::move(tunnel), executor),
                        executor, role, toConnectionOptions(options)),
      options_(options),
      on_request_(std::move(on_request)) {}

std::shared_ptr<H2cConnection> H2cConnection::self() {
  return std::static_pointer_cast<H2cConnection>(shared_from_this());
}

H2cConnection::Stream* H2cConnection::find(int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void H2cConnection::onRequestBegin(int32_t stream_id) {
  if (handling_ >= options_.max_concurrent_streams) {
    // Streams reset by the client still have handlers running: refuse until they finish.
    resetStream(stream_id, NGHTTP2_REFUSED_STREAM);
    return;
  }
  auto st = std::make_shared<Stream>();
  st->id = stream_id;
  st->done = std::make_unique<Signal>(executor());
  streams_[stream_id] = std::move(st);
}

int H2cConnection::onHeader(const nghttp2_frame& frame, std::string_view n, std::string_view v) {
  Stream* st = find(frame.hd.stream_id);
  if (st == nullptr) return 0;
  st->wire_bytes += n.size() + v.size();
  st->header_bytes += n.size() + v.size() + 32;
  if (st->header_overflow) {
    // Far past the limit no client is merely verbose: an HPACK bomb (one table entry referenced
    // thousands of times) would have nghttp2 copy and validate every field of the block, ~17 ms
    // of CPU per 16 KiB frame. Stop decoding it and end the connection.
    if (st->header_bytes > kHeaderBombFactor * uint64_t{options_.limits.header_bytes}) {
      logWarn("{}: header list over {} bytes (limit {}), closing connection", logName(),
              st->header_bytes, options_.limits.header_bytes);
      terminate(NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
  }
  if (st->header_bytes > options_.limits.header_bytes) {
    st->header_overflow = true;
    if (role() == http2::Role::kClient) resetStream(st->id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  // A HEADERS block after the request/response headers is trailers, except the final
  // response headers that follow a 1xx (also category HEADERS in nghttp2).
  const bool trailer = frame.headers.cat == NGHTTP2_HCAT_HEADERS &&
                       (role() == http2::Role::kServer || st->final_headers_done);
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

void H2cConnection::onData(int32_t id, const uint8_t* data, size_t len) {
  Stream* st = find(id);
  if (st == nullptr) return;
  st->wire_bytes += len;
  if (st->body_overflow) return;
  if (st->body.size() + len > options_.limits.body_bytes) {
    st->body_overflow = true;
    st->body.clear();
    if (role() == http2::Role::kServer) {
      dispatch(streams_[id]);
    } else {
      resetStream(id, NGHTTP2_CANCEL);
    }
    return;
  }
  if (!admitBody(*st, len)) return;
  st->body.append(reinterpret_cast<const char*>(data), len);
}

bool H2cConnection::admitBody(Stream& st, size_t len) {
  if (role() != http2::Role::kServer) return true;
  if (buffered_ + len > options_.limits.body_bytes) {
    // Over the connection's budget for unanswered request bodies: refused, nothing processed.
    release(st);
    st.body.clear();
    st.body_overflow = true;
    st.dispatched = true;  // never handed over
    resetStream(st.id, NGHTTP2_REFUSED_STREAM);
    return false;
  }
  st.accounted += len;
  buffered_ += len;
  return true;
}

void H2cConnection::onFrameReceived(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA) return;
  auto it = streams_.find(frame.hd.stream_id);
  if (it == streams_.end()) return;
  std::shared_ptr<Stream> st = it->second;
  const bool server = role() == http2::Role::kServer;
  if (frame.hd.type == NGHTTP2_HEADERS && !server && st->status >= 200) {
    st->final_headers_done = true;
  }
  if (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) {
    st->complete = true;
    if (server) dispatch(st);
    st->done->notify();
  } else if (server && st->header_overflow) {
    dispatch(st);
  }
}

void H2cConnection::onStreamClosed(int32_t id, uint32_t error_code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::shared_ptr<Stream> st = std::move(it->second);
  streams_.erase(it);
  if (!st->dispatched) release(*st);  // a dispatched one is released when answered
  st->closed = true;
  st->close_code = error_code;
  st->done->notify();
}

// Our response ended while the client is still sending (e.g. 413 before the body ended):
// RST_STREAM NO_ERROR tells it to stop (RFC 9113 §8.1).
void H2cConnection::onFrameSent(const nghttp2_frame& frame) {
  if (role() != http2::Role::kServer || !(frame.hd.flags & NGHTTP2_FLAG_END_STREAM) ||
      (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA)) {
    return;
  }
  Stream* st = find(frame.hd.stream_id);
  if (st != nullptr && !st->complete) resetStream(st->id, NGHTTP2_NO_ERROR);
}

// The tunnel's read side ended: streams still waiting for request (or response) bytes never
// get them; those already complete may still be answered.
void H2cConnection::onInputEnded(std::string_view) {
  std::vector<std::shared_ptr<Stream>> incomplete;
  for (auto& [id, st] : streams_) {
    if (!st->complete) incomplete.push_back(st);
  }
  for (auto& st : incomplete) reset(*st, NGHTTP2_CANCEL);
}

void H2cConnection::onClosed() {
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    st->closed = true;
    st->close_code = NGHTTP2_INTERNAL_ERROR;
    st->done->notify();
  }
}

void H2cConnection::dispatch(const std::shared_ptr<Stream>& st) {
  if (st->dispatched || !on_request_) return;
  st->dispatched = true;
  ++handling_;
  on_request_(self(), st);
}

void H2cConnection::release(Stream& st) {
  buffered_ -= std::min<uint64_t>(buffered_, st.accounted);
  st.accounted = 0;
}

bool H2cConnection::acceptsStreams() const {
  if (closed() || !started() || goawaySent() || goawayReceived() || inputEnded()) return false;
  if (streamIdsExhausted()) return false;
  return streams_.size() < peerMaxConcurrentStreams();
}

ssize_t H2cConnection::provide(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t length,
                               uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<Stream*>(source->ptr);
  size_t n = std::min(length, st->out_body.size() - st->out_offset);
  std::memcpy(buf, st->out_body.data() + st->out_offset, n);
  st->out_offset += n;
  if (st->out_offset == st->out_body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!st->out_trailers.empty()) {
      http2::HeaderList trailers;
      for (const auto& [name, value] : st->out_trailers) trailers.addView(name, value);
      if (nghttp2_submit_trailer(ng, id, trailers.data(), trailers.size()) == 0) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  return static_cast<ssize_t>(n);
}

Status H2cConnection::respond(Stream& st, const HttpResponse& response, bool head_request) {
  if (!st.answered) {
    st.answered = true;
    release(st);
    if (st.dispatched && handling_ > 0) --handling_;
  }
  if (closed() || st.closed) return makeError("HTTP/2 stream {} already closed", st.id);
  const unsigned status = response.result_int();
  http2::HeaderList fields;
  fields.add(":status", std::to_string(status));
  auto trailer_names = declaredTrailers(response.base());
  for (const auto& f : response.base()) {
    std::string name = lower(view(f.name_string()));
    if (connectionSpecific(name)) continue;
    if (trailer_names.count(name)) {
      st.out_trailers.emplace_back(std::move(name), std::string(view(f.value())));
    } else {
      fields.add(std::move(name), std::string(view(f.value())));
    }
  }
  const bool no_body = head_request || status < 200 || status == 204 || status == 304;
  if (!no_body) st.out_body = response.body();
  nghttp2_data_provider provider{};
  provider.source.ptr = &st;
  provider.read_callback = &H2cConnection::provide;
  const bool send_data = !no_body && (!st.out_body.empty() || !st.out_trailers.empty());
  Status sent = submitResponse(st.id, fields, send_data ? &provider : nullptr);
  if (!sent) reset(st, NGHTTP2_INTERNAL_ERROR);  // the stream must not stay open unanswered
  return sent;
}

Result<std::shared_ptr<H2cConnection::Stream>> H2cConnection::submit(const HttpRequest& request) {
  if (!acceptsStreams()) return Error{ECONNRESET, "upstream HTTP/2 connection is going away"};
  auto st = std::make_shared<Stream>();
  st->done = std::make_unique<Signal>(executor());
  http2::HeaderList fields;
  std::string target(view(request.target()));
  fields.add(":method", std::string(view(request.method_string())));
  fields.add(":scheme", "http");
  fields.add(":authority", std::string(view(request[http::field::host])));
  fields.add(":path", target.empty() ? "/" : target);
  bool grpc = false;
  for (const auto& f : request.base()) {
    std::string name = lower(view(f.name_string()));
    if (connectionSpecific(name)) continue;
    if (name == "content-type" && view(f.value()).starts_with("application/grpc")) grpc = true;
    fields.add(std::move(name), std::string(view(f.value())));
  }
  if (grpc) fields.add("te", "trailers");  // gRPC servers require it; HTTP/1.1 hops dropped it
  st->out_body = request.body();
  nghttp2_data_provider provider{};
  provider.source.ptr = st.get();
  provider.read_callback = &H2cConnection::provide;
  int32_t id = submitRequest(fields, st->out_body.empty() ? nullptr : &provider, nullptr);
  if (id < 0) {
    return Error{ECONNRESET, fmt::format("nghttp2_submit_request: {}", nghttp2_strerror(id))};
  }
  st->id = id;
  streams_[id] = st;
  return st;
}

void H2cConnection::reset(Stream& st, uint32_t error_code) {
  if (closed() || st.closed) return;
  resetStream(st.id, error_code);
}

}  // namespace ambit::waypoint
