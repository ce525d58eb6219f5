#include "waypoint/http_codec.h"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <string>

namespace ambit::waypoint {
namespace {

namespace beast = boost::beast;
using boost::system::error_code;

constexpr size_t kReadChunk = 16u << 10;

bool isLimitError(const error_code& ec) {
  return ec == http::error::header_limit || ec == http::error::body_limit ||
         ec == http::error::buffer_overflow;
}

template <bool isRequest>
asio::awaitable<Result<uint64_t>> writeAny(hbone::HboneStream& stream,
                                           const http::message<isRequest, http::string_body>& m) {
  http::serializer<isRequest, http::string_body> serializer(m);
  std::string wire;
  error_code ec;
  while (!serializer.is_done()) {
    serializer.next(ec, [&](error_code&, const auto& buffers) {
      size_t n = 0;
      for (auto b : beast::buffers_range_ref(buffers)) {
        wire.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      serializer.consume(n);
    });
    if (ec) co_return Error{EBADMSG, "serialize HTTP message: " + ec.message()};
  }
  Status st = co_await stream.write(asio::buffer(wire));
  if (!st) co_return st.error();
  co_return wire.size();
}

}  // namespace

template <typename Parser>
asio::awaitable<Status> MessageReader::parse(Parser& parser, bool& clean_eof) {
  parser.eager(true);
  parser.header_limit(limits_.header_bytes);
  parser.body_limit(limits_.body_bytes);
  clean_eof = false;
  bool any = false;
  while (!parser.is_done()) {
    error_code ec;
    if (buffer_.size() > 0) {
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

asio::awaitable<Result<std::optional<HttpRequest>>> MessageReader::readRequest() {
  http::request_parser<http::string_body> parser;
  bool eof = false;
  Status st = co_await parse(parser, eof);
  if (!st) co_return st.error();
  if (eof) co_return std::optional<HttpRequest>{};
  co_return std::optional<HttpRequest>{parser.release()};
}

asio::awaitable<Result<HttpResponse>> MessageReader::readResponse(bool head_request,
                                                                  bool& ends_stream) {
  http::response_parser<http::string_body> parser;
  parser.skip(head_request);
  bool eof = false;
  Status st = co_await parse(parser, eof);
  if (!st) co_return st.error();
  if (eof) co_return Error{ECONNRESET, "upstream closed before a response"};
  ends_stream = parser.need_eof();
  co_return parser.release();
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
