// wireBuffers() against Boost.Beast's own serializer: the waypoint gathers a message's wire
// form itself (waypoint/http_codec.h), and it must be byte for byte what Beast writes.

#include "waypoint/http_codec.h"

#include <gtest/gtest.h>

#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace ambit::waypoint {
namespace {

template <bool isRequest>
std::string beastWire(const http::message<isRequest, http::string_body>& m) {
  std::ostringstream out;
  out << m;  // Beast's serializer
  return out.str();
}

template <class Message>
std::string ourWire(const Message& m, size_t* reported = nullptr) {
  WireScratch scratch;
  std::vector<asio::const_buffer> pieces{asio::buffer("left over from before", 21)};
  const size_t bytes = wireBuffers(m, scratch, pieces);
  std::string out;
  for (const auto& b : pieces) out.append(static_cast<const char*>(b.data()), b.size());
  if (reported) *reported = bytes;
  return out;
}

HttpRequest request(http::verb verb, std::string target, unsigned version = 11) {
  HttpRequest r{verb, target, version};
  r.set(http::field::host, "my-app.default.svc.cluster.local");
  return r;
}

std::vector<HttpRequest> requests() {
  std::vector<HttpRequest> out;
  out.push_back(request(http::verb::get, "/"));
  HttpRequest post = request(http::verb::post, "/bytes/1024?x=1&y=%20");
  post.set("X-Custom-Header", "v1");
  post.insert("x-custom-header", "v2 with spaces");  // repeated, another case
  post.set(http::field::content_type, "application/json");
  post.body() = R"({"a": 1})";
  post.prepare_payload();
  out.push_back(post);
  out.push_back(request(http::verb::get, "/old", 10));
  HttpRequest purge = request(http::verb::get, "/cache");
  purge.method_string("PURGE");  // a verb Beast knows by name
  out.push_back(purge);
  HttpRequest frob = request(http::verb::get, "/x");
  frob.method_string("FROB");  // one it does not (verb::unknown, the text kept)
  out.push_back(frob);
  HttpRequest chunked = request(http::verb::put, "/upload");
  chunked.body() = std::string(70000, 'z');  // a chunk size of five hex digits
  chunked.chunked(true);
  out.push_back(chunked);
  HttpRequest empty_value = request(http::verb::options, "*");
  empty_value.set("x-empty", "");
  empty_value.set("x-padded", " \t padded value \t ");  // Beast keeps the value trimmed
  out.push_back(empty_value);
  return out;
}

std::vector<HttpResponse> responses() {
  std::vector<HttpResponse> out;
  HttpResponse ok{http::status::ok, 11};
  ok.set(http::field::server, "ambit");
  ok.body() = std::string(1024, 'a');
  ok.prepare_payload();
  out.push_back(ok);
  HttpResponse reason{http::status::not_found, 11};
  reason.reason("Nothing Here");
  out.push_back(reason);
  out.push_back(HttpResponse{http::status::no_content, 10});
  HttpResponse unknown{static_cast<http::status>(599), 11};  // no standard phrase
  unknown.body() = "x";
  unknown.prepare_payload();
  out.push_back(unknown);
  HttpResponse chunked{http::status::ok, 11};
  chunked.body() = "hello, chunked world";
  chunked.chunked(true);
  out.push_back(chunked);
  return out;
}

TEST(WireBuffers, RequestsAreWhatBeastWrites) {
  for (const auto& r : requests()) {
    size_t bytes = 0;
    const std::string ours = ourWire(r, &bytes);
    EXPECT_EQ(ours, beastWire(r)) << r.method_string() << " " << r.target();
    EXPECT_EQ(bytes, ours.size());
  }
}

TEST(WireBuffers, ResponsesAreWhatBeastWrites) {
  for (const auto& r : responses()) {
    size_t bytes = 0;
    const std::string ours = ourWire(r, &bytes);
    EXPECT_EQ(ours, beastWire(r)) << r.result_int();
    EXPECT_EQ(bytes, ours.size());
  }
}

// A field's whole line is one piece (Beast keeps it contiguous), so the stream's gather copies
// one piece per field rather than four.
TEST(WireBuffers, EachFieldLineIsOnePiece) {
  HttpRequest r = request(http::verb::get, "/");  // Host
  r.set(http::field::user_agent, "curl/7.88.1");
  r.set(http::field::accept, "*/*");
  r.set("x-request-id", "0af7651916cd43dd8448eb211c80319c");
  r.set("x-empty", "");
  WireScratch scratch;
  std::vector<asio::const_buffer> pieces;
  wireBuffers(r, scratch, pieces);
  EXPECT_EQ(pieces.size(), 6u + 5u + 1u);  // start line, 5 fields, the empty line
  EXPECT_EQ(std::string(static_cast<const char*>(pieces[6].data()), pieces[6].size()),
            "Host: my-app.default.svc.cluster.local\r\n");
  EXPECT_EQ(std::string(static_cast<const char*>(pieces[10].data()), pieces[10].size()),
            "x-empty: \r\n");
}

// The one place ours differs on purpose: Beast frames an empty chunked string body as a zero-size
// chunk and then the last chunk, two terminators (the second would be read as the start of the
// next message). Ours is the last chunk alone. (The proxy itself re-frames every body it
// forwards with Content-Length, forward.cc; the test apps write chunked messages.)
TEST(WireBuffers, AnEmptyChunkedBodyIsTheLastChunkOnly) {
  HttpResponse r{http::status::ok, 11};
  r.chunked(true);
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(ourWire(r), head + "0\r\n\r\n");
  // What Boost 1.81's serializer writes (if a newer Beast writes one, this tells).
  EXPECT_EQ(beastWire(r), head + "0\r\n\r\n0\r\n\r\n");
}

}  // namespace
}  // namespace ambit::waypoint
