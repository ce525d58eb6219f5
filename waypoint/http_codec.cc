#include "waypoint/http_codec.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/version.hpp>
#include <charconv>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ambit::waypoint {
namespace {

using boost::system::error_code;

constexpr size_t kReadChunk = 16u << 10;
constexpr auto kDrainWait = std::chrono::seconds(2);

bool isLimitError(const error_code& ec) {
  return ec == http::error::header_limit || ec == http::error::body_limit ||
         ec == http::error::buffer_overflow;
}

template <bool isRequest>
asio::awaitable<Result<uint64_t>> writeAny(hbone::HboneStream& stream,
                                           const http::message<isRequest, http::string_body>& m) {
  WireScratch scratch;
  std::vector<asio::const_buffer> pieces;
  const size_t bytes = wireBuffers(m, scratch, pieces);
  Status st = co_await stream.write(pieces);
  if (!st) co_return st.error();
  co_return bytes;
}

// RFC 9112 strictness Beast does not enforce on its own: every header line ends in CRLF (a bare
// LF is how a front end and a back end are made to disagree about where a message ends) and
// no obs-fold continuation lines. Checks the header block at the start of `bytes` as far as it
// goes.
Status checkHeaderLines(std::string_view bytes) {
  size_t line_start = 0;
  // From line end to line end (find: memchr), not byte by byte.
  for (size_t i = bytes.find('\n'); i != std::string_view::npos; i = bytes.find('\n', i + 1)) {
    if (i == 0 || bytes[i - 1] != '\r') return Error{EBADMSG, "HTTP parse: bare LF in the header"};
    if (i - line_start == 1) return Status::ok();  // the empty line ending the header
    line_start = i + 1;
    if (line_start < bytes.size() && (bytes[line_start] == ' ' || bytes[line_start] == '\t')) {
      return Error{EBADMSG, "HTTP parse: obs-fold header continuation"};
    }
  }
  return Status::ok();
}

// One way to frame a request body, stated once (request smuggling: CL.TE, CL.CL).
Status checkBodyFraming(const HttpRequest& r) {
  const size_t lengths = r.count(http::field::content_length);
  if (lengths > 1) return Error{EBADMSG, "HTTP parse: more than one Content-Length"};
  if (lengths == 1 && r.count(http::field::transfer_encoding) > 0) {
    return Error{EBADMSG, "HTTP parse: both Content-Length and Transfer-Encoding"};
  }
  return Status::ok();
}

}  // namespace

template <typename Parser>
asio::awaitable<Status> MessageReader::parse(Parser& parser, bool& clean_eof, bool strict) {
  parser.eager(true);
  parser.header_limit(limits_.header_bytes);
  parser.body_limit(limits_.body_bytes);
  clean_eof = false;
  bool any = false;
  while (!parser.is_done()) {
    error_code ec;
    if (buffer_.size() > 0) {
      if (strict && !parser.is_header_done()) {
        const auto bytes = buffer_.data();
        Status lines = checkHeaderLines({static_cast<const char*>(bytes.data()), bytes.size()});
        if (!lines) co_return lines;
      }
      size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      any = any || used > 0;
      if (!ec && parser.is_done()) break;
      if (ec && ec != http::error::need_more) {
        co_return Error{isLimitError(ec) ? EMSGSIZE : EBADMSG, "HTTP parse: " + ec.message()};
      }
      if (!ec && used > 0) continue;
    }
    if (buffer_.size() >= limits_.header_bytes && !parser.is_header_done()) {
      co_return Error{EMSGSIZE, "HTTP parse: header block too large"};
    }
    auto n = co_await stream_.read(buffer_.prepare(kReadChunk));
    if (!n) co_return n.error();
    if (*n == 0) {
      if (!any && buffer_.size() == 0) {
        clean_eof = true;
        co_return Status::ok();
      }
      parser.put_eof(ec);
      if (ec) co_return Error{EBADMSG, "HTTP parse: stream ended inside a message"};
      break;
    }
    buffer_.commit(*n);
    bytes_read_ += *n;
    any = true;
  }
  co_return Status::ok();
}

void MessageReader::prime(std::string_view bytes) {
  auto dst = buffer_.prepare(bytes.size());
  asio::buffer_copy(dst, asio::buffer(bytes.data(), bytes.size()));
  buffer_.commit(bytes.size());
  bytes_read_ += bytes.size();
}

asio::awaitable<void> endTunnel(hbone::HboneStream& stream) {
  stream.shutdownWrite();
  asio::steady_timer timer(co_await asio::this_coro::executor, kDrainWait);
  bool expired = false;
  auto done = std::make_shared<bool>(false);  // outlives this frame: see the handler
  timer.async_wait([&, done](error_code ec) {
    if (!ec && !*done) {
      expired = true;
      stream.reset();
    }
  });
  std::vector<char> sink(4096);
  while (!expired) {
    auto n = co_await stream.read(asio::buffer(sink));
    if (!n || *n == 0) break;
  }
  *done = true;
  timer.cancel();
}

asio::awaitable<Result<std::optional<HttpRequest>>> MessageReader::readRequest() {
  http::request_parser<http::string_body> parser;
  bool eof = false;
  Status st = co_await parse(parser, eof, /*strict=*/true);
  if (!st) co_return st.error();
  if (eof) co_return std::optional<HttpRequest>{};
  HttpRequest request = parser.release();
  if (Status framing = checkBodyFraming(request); !framing) co_return framing.error();
  co_return std::optional<HttpRequest>{std::move(request)};
}

asio::awaitable<Result<HttpResponse>> MessageReader::readResponse(bool head_request,
                                                                  bool& ends_stream) {
  http::response_parser<http::string_body> parser;
  parser.skip(head_request);
  bool eof = false;
  Status st = co_await parse(parser, eof, /*strict=*/false);
  if (!st) co_return st.error();
  if (eof) co_return Error{ECONNRESET, "upstream closed before a response"};
  ends_stream = parser.need_eof();
  co_return parser.release();
}

namespace {

constexpr std::string_view kCrlf = "\r\n";

asio::const_buffer piece(std::string_view s) { return asio::const_buffer(s.data(), s.size()); }
asio::const_buffer piece(boost::beast::string_view s) {
  return asio::const_buffer(s.data(), s.size());
}

// "HTTP/x.y" for Beast's version number (11 = 1.1), as Beast writes it.
std::string_view httpVersion(unsigned version, char (&out)[8]) {
  std::memcpy(out, "HTTP/", 5);
  out[5] = static_cast<char>('0' + version / 10 % 10);
  out[6] = '.';
  out[7] = static_cast<char>('0' + version % 10);
  return std::string_view(out, 8);
}

// One piece per field (fieldLine()), and a few for the start line, the empty line and the
// body's framing.
void reservePieces(const http::fields& fields, std::vector<asio::const_buffer>& out) {
  out.reserve(static_cast<size_t>(std::distance(fields.begin(), fields.end())) + 12);
}

// A field's line, "name: value\r\n", as one piece: Beast 1.81 keeps each field's line
// contiguous in one allocation (its serializer sends it as one buffer), so the stream's gather
// copies a dozen pieces per message instead of fifty. That layout is Beast's, not its
// documented interface: the version is pinned (cmake/AmbitDeps.cmake, and the assertion below),
// WireBuffers tests compare every byte with Beast's serializer, and a field whose value does not
// start right after its name and ": " goes as four pieces.
static_assert(BOOST_VERSION == 108100, "fieldLine() relies on Boost 1.81's field layout");
void fieldLine(const http::fields::value_type& f, std::vector<asio::const_buffer>& out) {
  const boost::beast::string_view name = f.name_string();
  const boost::beast::string_view value = f.value();
  const char* line = name.data();
  if (value.data() == line + name.size() + 2 && line[name.size()] == ':') {
    out.push_back(asio::const_buffer(line, name.size() + 2 + value.size() + 2));
    return;
  }
  out.push_back(piece(name));
  out.push_back(piece(std::string_view(": ")));
  out.push_back(piece(value));
  out.push_back(piece(kCrlf));
}

// The fields and the body of `m` after its start line.
template <bool isRequest>
size_t fieldsAndBody(const http::message<isRequest, http::string_body>& m, WireScratch& scratch,
                     std::vector<asio::const_buffer>& out) {
  for (const auto& f : m.base()) fieldLine(f, out);
  out.push_back(piece(kCrlf));
  const std::string& body = m.body();
  if (m.chunked()) {
    // The whole body as one chunk, then the last chunk (no trailers): Beast's framing of a
    // string body. An empty body is just the last chunk.
    if (!body.empty()) {
      auto [end, ec] =
          std::to_chars(std::begin(scratch.chunk), std::end(scratch.chunk), body.size(), 16);
      out.push_back(piece(std::string_view(scratch.chunk, end)));
      out.push_back(piece(kCrlf));
      out.push_back(piece(std::string_view(body)));
      out.push_back(piece(kCrlf));
    }
    out.push_back(piece(std::string_view("0\r\n\r\n")));
  } else if (!body.empty()) {
    out.push_back(piece(std::string_view(body)));
  }
  size_t bytes = 0;
  for (const auto& b : out) bytes += b.size();
  return bytes;
}

}  // namespace

size_t wireBuffers(const HttpRequest& m, WireScratch& scratch,
                   std::vector<asio::const_buffer>& out) {
  out.clear();
  reservePieces(m.base(), out);
  out.push_back(piece(m.method_string()));
  out.push_back(piece(std::string_view(" ")));
  out.push_back(piece(m.target()));
  out.push_back(piece(std::string_view(" ")));
  out.push_back(piece(httpVersion(m.version(), scratch.version)));
  out.push_back(piece(kCrlf));
  return fieldsAndBody(m, scratch, out);
}

size_t wireBuffers(const HttpResponse& m, WireScratch& scratch,
                   std::vector<asio::const_buffer>& out) {
  out.clear();
  reservePieces(m.base(), out);
  const unsigned code = m.result_int();
  scratch.status[0] = ' ';
  scratch.status[1] = static_cast<char>('0' + code / 100 % 10);
  scratch.status[2] = static_cast<char>('0' + code / 10 % 10);
  scratch.status[3] = static_cast<char>('0' + code % 10);
  scratch.status[4] = ' ';
  out.push_back(piece(httpVersion(m.version(), scratch.version)));
  out.push_back(piece(std::string_view(scratch.status, 5)));
  out.push_back(piece(m.reason()));  // Beast's: the status's standard phrase unless one is set
  out.push_back(piece(kCrlf));
  return fieldsAndBody(m, scratch, out);
}

asio::awaitable<Result<uint64_t>> writeMessage(hbone::HboneStream& stream,
                                               const HttpRequest& request) {
  co_return co_await writeAny(stream, request);
}

asio::awaitable<Result<uint64_t>> writeMessage(hbone::HboneStream& stream,
                                               const HttpResponse& response) {
  co_return co_await writeAny(stream, response);
}

}  // namespace ambit::waypoint
