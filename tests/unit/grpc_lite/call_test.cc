// grpc_lite::Call against a scripted HTTP/2 server on a unix socket (ambit's own http2::Connection
// in the server role): every way a server can answer, well or badly, and what the call makes of
// it. The same client against gRPC's real server: tests/unit/identity/ca_service_test.cc
// (LiteCaClient) and the discovery client tests (the ztunnel's relay stream).

#include "common/grpc_lite/call.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/async/spawn.h"
#include "common/http2/asio_transport.h"
#include "common/http2/connection.h"
#include "tests/support/temp_dir.h"

namespace ambit::grpc_lite {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using UnixSocket = asio::local::stream_protocol::socket;

std::string framed(std::string_view message, uint8_t flag = 0) {
  std::string out(5, '\0');
  const auto len = static_cast<uint32_t>(message.size());
  out[0] = static_cast<char>(flag);
  out[1] = static_cast<char>(len >> 24);
  out[2] = static_cast<char>(len >> 16);
  out[3] = static_cast<char>(len >> 8);
  out[4] = static_cast<char>(len);
  return out + std::string(message);
}

// What the scripted server answers to a request, once the request has ended (END_STREAM).
struct Script {
  std::vector<std::pair<std::string, std::string>> headers = {{":status", "200"},
                                                              {"content-type", "application/grpc"}};
  std::string body;  // raw DATA bytes (already framed, or deliberately not)
  size_t chunk = 0;  // > 0: DATA frames of at most this many bytes
  std::vector<std::pair<std::string, std::string>> trailers = {{"grpc-status", "0"}};
  bool end_with_headers = false;  // trailers-only: `headers` end the stream
  std::optional<uint32_t> reset;  // RST_STREAM with this code instead of answering
  bool close_connection = false;  // drop the connection instead of answering
  bool answer_before_request_end = false;
  bool hold_open = false;  // answer the headers, then nothing: the stream stays open
};

// A server-role HTTP/2 connection that records the request and answers with a Script.
class ScriptedServer final : public http2::Connection {
 public:
  ScriptedServer(std::unique_ptr<http2::Transport> t, asio::any_io_executor ex, Script script,
                 std::function<void(const ScriptedServer&)> on_request)
      : Connection(std::move(t), std::move(ex), http2::Role::kServer,
                   {.max_frame_size = 1u << 14, .max_send_frame = 1u << 14}),
        script_(std::move(script)),
        on_request_(std::move(on_request)) {}

  std::vector<std::pair<std::string, std::string>> request_headers;
  std::string request_body;
  bool request_ended = false;

 protected:
  void onRequestBegin(int32_t id) override { stream_ = id; }
  int onHeader(const nghttp2_frame&, std::string_view n, std::string_view v) override {
    request_headers.emplace_back(n, v);
    return 0;
  }
  void onData(int32_t, const uint8_t* data, size_t len) override {
    request_body.append(reinterpret_cast<const char*>(data), len);
  }
  void onFrameReceived(const nghttp2_frame& frame) override {
    if (frame.hd.stream_id != stream_) return;
    const bool ended = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (ended) request_ended = true;
    if (ended || (script_.answer_before_request_end && frame.hd.type == NGHTTP2_HEADERS)) {
      answer();
    }
  }
  size_t openStreams() const override { return stream_ > 0 && !answered_ ? 1 : 0; }

 private:
  void answer() {
    if (answered_) return;
    answered_ = true;
    if (on_request_) on_request_(*this);
    if (script_.close_connection) {
      asio::post(executor(), [self = shared_from_this()] {
        std::static_pointer_cast<ScriptedServer>(self)->close("scripted");
      });
      return;
    }
    if (script_.reset) return resetStream(stream_, *script_.reset);
    http2::HeaderList headers;
    for (auto& [n, v] : script_.headers) headers.addView(n, v);
    if (script_.end_with_headers) {
      (void)submitResponse(stream_, headers, nullptr);
      return;
    }
    nghttp2_data_provider body{};
    body.source.ptr = this;
    if (script_.hold_open) {
      body.read_callback = [](nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                              nghttp2_data_source*,
                              void*) -> ssize_t { return NGHTTP2_ERR_DEFERRED; };
      (void)submitResponse(stream_, headers, &body);
      return;
    }
    body.read_callback = [](nghttp2_session* ng, int32_t id, uint8_t* buf, size_t length,
                            uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
      auto* self = static_cast<ScriptedServer*>(source->ptr);
      size_t n = std::min(length, self->script_.body.size() - self->sent_);
      if (self->script_.chunk > 0) n = std::min(n, self->script_.chunk);
      std::memcpy(buf, self->script_.body.data() + self->sent_, n);
      self->sent_ += n;
      if (self->sent_ == self->script_.body.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!self->script_.trailers.empty()) {
          http2::HeaderList trailers;
          for (auto& [tn, tv] : self->script_.trailers) trailers.addView(tn, tv);
          if (nghttp2_submit_trailer(ng, id, trailers.data(), trailers.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          }
        }
      }
      return static_cast<ssize_t>(n);
    };
    (void)submitResponse(stream_, headers, &body);
  }

  Script script_;
  std::function<void(const ScriptedServer&)> on_request_;
  int32_t stream_ = 0;
  bool answered_ = false;
  size_t sent_ = 0;
};

class CallTest : public ::testing::Test {
 protected:
  // Serves every connection to a new socket (path_) with `script`, or with raw bytes when `raw`
  // is set.
  void serve(Script script, std::optional<std::string> raw = std::nullopt) {
    path_ = dir_.file(fmt::format("grpc-{}.sock", acceptors_.size()));
    auto acceptor = std::make_shared<asio::local::stream_protocol::acceptor>(
        io_, asio::local::stream_protocol::endpoint(path_));
    acceptors_.push_back(acceptor);
    spawn(
        io_,
        [this, acceptor, script, raw]() -> asio::awaitable<void> {
          for (;;) {
            boost::system::error_code ec;
            UnixSocket socket =
                co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            ++connections_;
            if (raw) {
              co_await asio::async_write(socket, asio::buffer(*raw),
                                         asio::redirect_error(asio::use_awaitable, ec));
              held_.push_back(std::move(socket));
              continue;
            }
            auto conn = std::make_shared<ScriptedServer>(
                std::make_unique<http2::AsioStreamTransport<UnixSocket>>(std::move(socket)),
                io_.get_executor(), script, [this](const ScriptedServer& s) {
                  request_headers_ = s.request_headers;
                  request_body_ = s.request_body;
                });
            EXPECT_TRUE(conn->startDetached());
          }
        },
        "test server");
  }

  struct Outcome {
    std::vector<std::string> messages;
    std::optional<CallStatus> status;
  };

  // Runs one call to the server until it is done (bounded).
  Outcome call(CallOptions o, std::vector<std::string> requests = {"ping"}, bool close_send = true,
               std::chrono::milliseconds limit = 5s) {
    if (o.address.empty()) o.address = "unix:" + path_;
    if (o.method.empty()) o.method = "/test.Echo/Say";
    Outcome out;
    auto c = Call::start(io_.get_executor(), o,
                         {.message = [&](std::string m) { out.messages.push_back(std::move(m)); },
                          .done = [&](CallStatus s) { out.status = std::move(s); }});
    for (auto& r : requests) c->send(r);
    if (close_send) c->closeSend();
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!out.status && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(10ms);
    }
    return out;
  }

  test::TempDir dir_{"grpc-lite"};
  std::string path_;
  asio::io_context io_;
  // The loop runs in slices between calls: without work it would stop for good.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::vector<std::shared_ptr<asio::local::stream_protocol::acceptor>> acceptors_;
  std::vector<UnixSocket> held_;
  int connections_ = 0;
  std::vector<std::pair<std::string, std::string>> request_headers_;
  std::string request_body_;
};

std::string header(const std::vector<std::pair<std::string, std::string>>& h, std::string_view n) {
  for (auto& [name, value] : h) {
    if (name == n) return value;
  }
  return "<absent>";
}

TEST_F(CallTest, SendsGrpcRequestAndDeliversEveryMessageThenTheStatus) {
  Script s;
  s.body = framed("one") + framed("") + framed(std::string(40000, 'x'));
  s.chunk = 7;  // messages and their prefixes split across many DATA frames
  s.trailers = {{"grpc-status", "0"}, {"grpc-message", ""}};
  serve(s);
  auto out = call({.timeout = 3s}, {"a", "bc"});
  ASSERT_TRUE(out.status);
  EXPECT_TRUE(out.status->ok()) << out.status->message;
  ASSERT_EQ(out.messages.size(), 3u);
  EXPECT_EQ(out.messages[0], "one");
  EXPECT_EQ(out.messages[1], "");
  EXPECT_EQ(out.messages[2], std::string(40000, 'x'));
  EXPECT_EQ(header(request_headers_, ":method"), "POST");
  EXPECT_EQ(header(request_headers_, ":scheme"), "http");
  EXPECT_EQ(header(request_headers_, ":path"), "/test.Echo/Say");
  EXPECT_EQ(header(request_headers_, "content-type"), "application/grpc");
  EXPECT_EQ(header(request_headers_, "te"), "trailers");
  EXPECT_EQ(header(request_headers_, "grpc-timeout"), "3000m");
  EXPECT_EQ(request_body_, framed("a") + framed("bc"));
}

TEST_F(CallTest, ErrorStatusAndPercentEncodedMessageFromTrailers) {
  Script s;
  s.trailers = {{"grpc-status", "7"}, {"grpc-message", "no pod %22x%22 on node%3A 100%25"}};
  serve(s);
  auto out = call({});
  ASSERT_TRUE(out.status);
  EXPECT_EQ(out.status->code, StatusCode::kPermissionDenied);
  EXPECT_EQ(out.status->message, "no pod \"x\" on node: 100%");
}

TEST_F(CallTest, TrailersOnlyResponse) {
  Script s;
  s.headers = {{":status", "200"},
               {"content-type", "application/grpc"},
               {"grpc-status", "12"},
               {"grpc-message", "unknown method"}};
  s.end_with_headers = true;
  serve(s);
  auto out = call({});
  ASSERT_TRUE(out.status);
  EXPECT_EQ(out.status->code, StatusCode::kUnimplemented);
  EXPECT_EQ(out.status->message, "unknown method");
}

TEST_F(CallTest, HttpStatusesMapAsGrpcSays) {
  const std::pair<std::string, StatusCode> cases[] = {{"503", StatusCode::kUnavailable},
                                                      {"404", StatusCode::kUnimplemented},
                                                      {"401", StatusCode::kUnauthenticated},
                                                      {"403", StatusCode::kPermissionDenied},
                                                      {"500", StatusCode::kUnknown}};
  for (const auto& [http, code] : cases) {
    SCOPED_TRACE(http);
    Script s;
    s.headers = {{":status", http}, {"content-type", "text/html"}};
    s.body = "<html>oops</html>";
    s.trailers = {};
    serve(s);
    auto out = call({});
    ASSERT_TRUE(out.status);
    EXPECT_EQ(out.status->code, code);
    EXPECT_NE(out.status->message.find("HTTP status " + http), std::string::npos)
        << out.status->message;
    EXPECT_TRUE(out.messages.empty());
  }
}

TEST_F(CallTest, BadAnswersEndTheCallWithANamedError) {
  struct Case {
    const char* what;
    Script script;
    StatusCode code;
    const char* says;
  };
  std::vector<Case> cases;
  {
    Script s;
    s.headers = {{":status", "200"}, {"content-type", "text/plain"}};
    cases.push_back({"not gRPC", s, StatusCode::kUnknown, "content-type 'text/plain'"});
  }
  {
    Script s;
    s.body = framed("zipped", 1);
    cases.push_back({"compressed", s, StatusCode::kInternal, "compressed message"});
  }
  {
    Script s;
    s.body = framed(std::string(2000, 'y'));
    cases.push_back({"too large", s, StatusCode::kResourceExhausted, "over the limit of 1000"});
  }
  {
    Script s;
    s.trailers = {{"x-other", "1"}};
    cases.push_back({"no status", s, StatusCode::kUnknown, "no grpc-status"});
  }
  {
    Script s;
    s.trailers = {{"grpc-status", "abc"}};
    cases.push_back({"bad status", s, StatusCode::kUnknown, "malformed grpc-status 'abc'"});
  }
  {
    Script s;
    s.body = framed("whole");
    s.trailers = {};
    cases.push_back({"no trailers", s, StatusCode::kInternal, "without a status"});
  }
  {
    Script s;
    s.body = framed("whole").substr(0, 7);  // the message is cut short
    cases.push_back({"truncated", s, StatusCode::kInternal, "inside a message"});
  }
  {
    Script s;
    s.reset = NGHTTP2_REFUSED_STREAM;
    cases.push_back({"refused", s, StatusCode::kUnavailable, "REFUSED_STREAM"});
  }
  {
    Script s;
    s.reset = NGHTTP2_ENHANCE_YOUR_CALM;
    cases.push_back({"calm", s, StatusCode::kResourceExhausted, "ENHANCE_YOUR_CALM"});
  }
  {
    Script s;
    s.close_connection = true;
    cases.push_back({"closed", s, StatusCode::kUnavailable, "connection closed"});
  }
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    serve(c.script);
    auto out = call({.max_receive_message = 1000});
    ASSERT_TRUE(out.status) << "the call did not end";
    EXPECT_EQ(out.status->code, c.code)
        << codeName(out.status->code) << ": " << out.status->message;
    EXPECT_NE(out.status->message.find(c.says), std::string::npos) << out.status->message;
  }
}

TEST_F(CallTest, NotHttp2AtAllEndsUnavailable) {
  serve({}, std::string("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"));
  auto out = call({.timeout = 3s});
  ASSERT_TRUE(out.status);
  EXPECT_NE(out.status->code, StatusCode::kOk);
  EXPECT_NE(out.status->code, StatusCode::kDeadlineExceeded)
      << "it should not wait for the deadline";
}

TEST_F(CallTest, NoServerIsUnavailableAndSilentServerHitsTheDeadline) {
  std::string missing = "unix:" + dir_.file("nobody.sock");
  path_ = "/nonexistent";
  auto refused = call({.address = missing});
  ASSERT_TRUE(refused.status);
  EXPECT_EQ(refused.status->code, StatusCode::kUnavailable);
  EXPECT_NE(refused.status->message.find("connect"), std::string::npos) << refused.status->message;

  // Accepts and never says a word (not even SETTINGS).
  serve({}, std::string());
  auto silent = call({.timeout = 200ms});
  ASSERT_TRUE(silent.status);
  EXPECT_EQ(silent.status->code, StatusCode::kDeadlineExceeded);
  EXPECT_NE(silent.status->message.find("200 ms"), std::string::npos);

  auto bad = call({.address = "dns:///ambit-control:15012"});
  ASSERT_TRUE(bad.status);
  EXPECT_EQ(bad.status->code, StatusCode::kInvalidArgument);
}

TEST_F(CallTest, KeepalivePingsAndEndsWhenTheServerStopsAnswering) {
  // A server that answers PINGs (nghttp2 does) and holds the stream open: the call lives on.
  Script s;
  s.answer_before_request_end = true;
  s.hold_open = true;
  serve(s);
  auto alive = call({.keepalive = 30ms, .keepalive_timeout = 30ms}, {"hi"}, false, 400ms);
  EXPECT_FALSE(alive.status) << "ended: " << alive.status->message;

  // Its SETTINGS, then silence: no PING is ever answered.
  serve({}, std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9));
  auto silent = call({.keepalive = 30ms, .keepalive_timeout = 30ms}, {"hi"}, false);
  ASSERT_TRUE(silent.status);
  EXPECT_EQ(silent.status->code, StatusCode::kUnavailable);
  EXPECT_NE(silent.status->message.find("keepalive PING within 30 ms"), std::string::npos)
      << silent.status->message;
}

TEST_F(CallTest, ATooLongSocketPathIsRefusedNotHung) {
  auto out = call({.address = "unix:/" + std::string(200, 'x') + ".sock"});
  ASSERT_TRUE(out.status);
  EXPECT_EQ(out.status->code, StatusCode::kInvalidArgument);
  EXPECT_FALSE(isUnixSocketAddress("unix:/" + std::string(200, 'x')));
}

TEST_F(CallTest, TrailersOnlyStatusWinsOverTheHttpStatus) {
  Script s;
  s.headers = {{":status", "400"}, {"grpc-status", "3"}, {"grpc-message", "bad CSR"}};
  s.end_with_headers = true;
  serve(s);
  auto out = call({});
  ASSERT_TRUE(out.status);
  EXPECT_EQ(out.status->code, StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status->message, "bad CSR");
}

TEST_F(CallTest, CancelEndsTheCallOnceAndDeliversNothingMore) {
  Script s;
  s.answer_before_request_end = true;
  s.hold_open = true;  // response headers, then the stream stays open
  serve(s);
  Outcome out;
  int done_calls = 0;
  auto c = Call::start(io_.get_executor(), {.address = "unix:" + path_, .method = "/test.Echo/Say"},
                       {.message = [&](std::string m) { out.messages.push_back(m); },
                        .done =
                            [&](CallStatus st) {
                              ++done_calls;
                              out.status = st;
                            }});
  c->send("hello");
  io_.run_for(100ms);
  c->cancel();
  c->cancel();
  c->send("ignored");
  io_.run_for(100ms);
  ASSERT_TRUE(out.status);
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(out.status->code, StatusCode::kCancelled);
  EXPECT_TRUE(c->finished());
}

TEST(GrpcLiteStatus, NamesAndMessages) {
  EXPECT_EQ(codeName(StatusCode::kUnavailable), "UNAVAILABLE");
  EXPECT_EQ(codeName(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(codeName(static_cast<StatusCode>(42)), "CODE_42");
  EXPECT_EQ(decodeGrpcMessage("a%20b%zz%4"), "a b%zz%4");
  EXPECT_TRUE(isUnixSocketAddress("unix:/run/x.sock"));
  EXPECT_FALSE(isUnixSocketAddress("unix:relative.sock"));
  EXPECT_FALSE(isUnixSocketAddress("127.0.0.1:15012"));
}

}  // namespace
}  // namespace ambit::grpc_lite
