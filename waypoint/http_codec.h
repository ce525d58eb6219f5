#pragma once
// HTTP/1.1 messages over an HBONE stream, framed by Boost.Beast's parser and serializer.
//
// MessageReader keeps the bytes it read past one message for the next one, so keep-alive and
// pipelined requests work on one tunnel. Limits protect the waypoint: a header block past
// HttpLimits::header_bytes or a body past body_bytes is an error with code EMSGSIZE; a
// malformed message is an error with code EBADMSG; anything else is a transport error. Requests
// are held to stricter framing than Beast alone enforces (request smuggling): CRLF line ends
// only (no bare LF), no obs-fold, at most one Content-Length and never together with
// Transfer-Encoding.
//
// Thread model: one reader per stream, used from the stream's executor only.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/hbone/stream.h"
#include "common/status.h"

namespace ambit::waypoint {

namespace asio = boost::asio;
namespace http = boost::beast::http;

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

struct HttpLimits {
  uint32_t header_bytes = 64u << 10;
  uint64_t body_bytes = 16u << 20;
};

class MessageReader {
 public:
  MessageReader(hbone::HboneStream& stream, HttpLimits limits) : stream_(stream), limits_(limits) {}

  // The next request; nullopt when the peer half-closed cleanly between requests.
  asio::awaitable<Result<std::optional<HttpRequest>>> readRequest();
  // The response to a request; `head_request` says the response has no body whatever its
  // headers claim. A response delimited by the end of the stream sets `ends_stream`.
  asio::awaitable<Result<HttpResponse>> readResponse(bool head_request, bool& ends_stream);

  uint64_t bytesRead() const { return bytes_read_; }
  // Bytes read from the stream by someone else before (e.g. while sniffing the protocol), to
  // be parsed first.
  void prime(std::string_view bytes);

 private:
  template <typename Parser>
  asio::awaitable<Status> parse(Parser& parser, bool& clean_eof, bool strict);

  hbone::HboneStream& stream_;
  HttpLimits limits_;
  boost::beast::flat_buffer buffer_;
  uint64_t bytes_read_ = 0;
};

// Half-closes our side of a terminated tunnel and lets our last bytes and END_STREAM go out:
// waits (bounded) for the peer's END_STREAM before the handle may be dropped (dropping it
// earlier resets the stream).
asio::awaitable<void> endTunnel(hbone::HboneStream& stream);

// Room wireBuffers() formats the start line and a chunk size in.
struct WireScratch {
  char version[8];
  char status[5];
  char chunk[17];  // a chunk size in hex
};
// The HTTP/1.x wire form of a message (in its own version) as buffers pointing into the message
// and `scratch`, valid while both are and the message is unchanged: start line, fields in order,
// the empty line, the body (as one chunk and the last chunk when the message is chunked). Byte
// for byte what Beast's serializer writes (tests/unit/waypoint/http_codec_test.cc compares the
// two), except that an empty chunked body is the last chunk alone where Beast writes two;
// gathered directly because the serializer's buffer-sequence iteration was ~10% of the
// waypoint's instructions per request. Replaces `out`'s contents; returns the total size.
size_t wireBuffers(const HttpRequest& m, WireScratch& scratch,
                   std::vector<asio::const_buffer>& out);
size_t wireBuffers(const HttpResponse& m, WireScratch& scratch,
                   std::vector<asio::const_buffer>& out);

// Writes one message (wireBuffers(), gathered into the stream); returns the bytes written.
asio::awaitable<Result<uint64_t>> writeMessage(hbone::HboneStream& stream,
                                               const HttpRequest& request);
asio::awaitable<Result<uint64_t>> writeMessage(hbone::HboneStream& stream,
                                               const HttpResponse& response);

}  // namespace ambit::waypoint
