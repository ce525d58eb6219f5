// http2::Connection by itself, two ends over a socketpair: SETTINGS exchange, request/response,
// PING, GOAWAY drain, idle timeout under both policies, flow control with a body much larger
// than the windows (automatic and application-paced window updates), bad input answered with
// GOAWAY, the flood limits (SETTINGS, PING, empty frames) and the send-stall timeout of a
// connection whose peer stopped reading.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <vector>

#include "tests/unit/http2/test_connection.h"

namespace ambit::http2::testing {
namespace {

using namespace std::chrono_literals;

class Http2ConnectionTest : public ::testing::Test {
 protected:
  void connect(ConnectionOptions client_options = {}, ConnectionOptions server_options = {}) {
    Socket a(io_), b(io_);
    asio::local::connect_pair(a, b);
    client_options.log_name = "test client";
    server_options.log_name = "test server";
    client_ = std::make_shared<TestConnection>(std::move(a), Role::kClient, client_options);
    server_ = std::make_shared<TestConnection>(std::move(b), Role::kServer, server_options);
    ASSERT_TRUE(client_->startDetached());
    ASSERT_TRUE(server_->startDetached());
  }

  // The server closes idle connections after `timeout` under `policy`.
  void connectWithServerIdle(IdlePolicy policy, std::chrono::milliseconds timeout) {
    ConnectionOptions server_options;
    server_options.idle_timeout = timeout;
    server_options.idle_policy = policy;
    connect({}, server_options);
  }

  // Runs the loop until `done` holds; fails the test after 10 s (a hang, not a timing check).
  void runUntil(const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      io_.restart();
      io_.run_one_for(20ms);
    }
    ASSERT_TRUE(done()) << "condition not reached within 10 s";
  }
  // Runs every handler that is ready, including socket I/O, until nothing is left to do.
  void runUntilQuiet() {
    for (int idle = 0; idle < 3;) {
      io_.restart();
      idle = io_.poll() == 0 ? idle + 1 : 0;
    }
  }
  void settle() {
    runUntil([&] { return client_->settings_received > 0 && server_->settings_received > 0; });
  }

  static inline const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // One frame: 9-byte header (length:24, type:8, flags:8, stream:32), then the payload.
  static std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
    const size_t n = payload.size();
    std::string f = {static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8),
                     static_cast<char>(n),
                     static_cast<char>(type),
                     static_cast<char>(flags),
                     static_cast<char>(stream >> 24),
                     static_cast<char>(stream >> 16),
                     static_cast<char>(stream >> 8),
                     static_cast<char>(stream)};
    return f.append(payload);
  }
  // A started server whose peer is a raw socket the test writes frames to.
  Socket rawPeerOfServer(ConnectionOptions options = {}) {
    Socket raw(io_), b(io_);
    asio::local::connect_pair(raw, b);
    server_ = std::make_shared<TestConnection>(std::move(b), Role::kServer, std::move(options));
    EXPECT_TRUE(server_->startDetached());
    return raw;
  }
  // Runs the server until it closed, reads all it sent and returns the GOAWAY's error code
  // (-1: EOF without a GOAWAY, -2: the server did not close).
  int goawayCodeBeforeEof(Socket& raw) {
    runUntil([&] { return server_->closed(); });
    if (!server_->closed()) return -2;  // reading now would block
    std::string got;
    boost::system::error_code ec;
    asio::read(raw, asio::dynamic_buffer(got), ec);
    EXPECT_EQ(ec, asio::error::eof);
    for (size_t at = 0; at + 9 <= got.size();) {
      auto byte = [&](size_t i) { return static_cast<uint8_t>(got[at + i]); };
      const size_t len = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
      if (byte(3) == NGHTTP2_GOAWAY && at + 9 + len <= got.size() && len >= 8) {
        return static_cast<int>((uint32_t{byte(13)} << 24) | (uint32_t{byte(14)} << 16) |
                                (uint32_t{byte(15)} << 8) | byte(16));
      }
      at += 9 + len;
    }
    return -1;
  }

  asio::io_context io_;
  std::shared_ptr<TestConnection> client_;
  std::shared_ptr<TestConnection> server_;
};

TEST_F(Http2ConnectionTest, SettingsExchangeTellsEachSideThePeersLimits) {
  ConnectionOptions client_options, server_options;
  client_options.max_concurrent_streams = 5;
  server_options.max_concurrent_streams = 7;
  connect(client_options, server_options);
  settle();
  EXPECT_EQ(client_->peerMaxConcurrentStreams(), 7u);
  EXPECT_EQ(server_->peerMaxConcurrentStreams(), 5u);
  EXPECT_FALSE(client_->closed());
  EXPECT_FALSE(server_->closed());
}

TEST_F(Http2ConnectionTest, RequestAndResponseRoundTrip) {
  connect();
  auto st = client_->request("hello");
  ASSERT_GT(st->id, 0);
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->status, "200");
  EXPECT_EQ(st->received, "hello");
  EXPECT_EQ(st->close_code, uint32_t{NGHTTP2_NO_ERROR});
}

TEST_F(Http2ConnectionTest, PingIsAnswered) {
  connect();
  settle();
  client_->submitPing();
  runUntil([&] { return client_->ping_acks == 1; });
  EXPECT_EQ(server_->ping_acks, 0);
}

TEST_F(Http2ConnectionTest, GoawayLetsTheOpenStreamFinishThenBothEndsClose) {
  connect();
  auto st = client_->request("first half, ", /*hold=*/true);
  runUntil([&] {
    return server_->seen.size() == 1 && server_->seen.begin()->second->received == "first half, ";
  });
  server_->shutdown();
  runUntil([&] { return client_->goawayReceived(); });
  EXPECT_TRUE(server_->goawaySent());
  EXPECT_FALSE(server_->closed()) << "a stream is still open";
  st->out += "second half";
  client_->release(*st);
  runUntil([&] { return client_->closed() && server_->closed(); });
  EXPECT_EQ(st->status, "200");
  EXPECT_EQ(st->received, "first half, second half");
  EXPECT_TRUE(client_->closed_hook);
  EXPECT_TRUE(server_->closed_hook);
}

TEST_F(Http2ConnectionTest, ShutdownBeforeStartSendsGoawayOnStart) {
  Socket a(io_), b(io_);
  asio::local::connect_pair(a, b);
  auto client = std::make_shared<TestConnection>(std::move(a), Role::kClient, ConnectionOptions{});
  auto server = std::make_shared<TestConnection>(std::move(b), Role::kServer, ConnectionOptions{});
  server->shutdown();
  ASSERT_TRUE(client->startDetached());
  ASSERT_TRUE(server->startDetached());
  client_ = client;
  server_ = server;
  runUntil([&] { return client->closed() && server->closed(); });
  EXPECT_TRUE(client->goawayReceived());
}

TEST_F(Http2ConnectionTest, IdleConnectionWithoutStreamsSendsGoawayAndCloses) {
  connectWithServerIdle(IdlePolicy::kNoOpenStreams, 100ms);
  runUntil([&] { return server_->closed() && client_->closed(); });
  EXPECT_TRUE(server_->goawaySent());
  EXPECT_TRUE(client_->goawayReceived());
}

TEST_F(Http2ConnectionTest, NoOpenStreamsPolicyKeepsAQuietStreamOpen) {
  connectWithServerIdle(IdlePolicy::kNoOpenStreams, 50ms);
  auto st = client_->request("", /*hold=*/true);
  runUntil([&] { return server_->seen.size() == 1; });
  const auto quiet_until = std::chrono::steady_clock::now() + 400ms;
  runUntil([&] { return std::chrono::steady_clock::now() >= quiet_until; });
  EXPECT_FALSE(server_->closed()) << "a connection with an open tunnel is not idle";
  client_->release(*st);
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->status, "200");
}

TEST_F(Http2ConnectionTest, NoFramesPolicyClosesAStalledConnection) {
  connectWithServerIdle(IdlePolicy::kNoFrames, 100ms);
  auto st = client_->request("never finished", /*hold=*/true);
  runUntil([&] { return server_->closed(); });
  EXPECT_FALSE(server_->goawaySent()) << "a stalled connection is closed, not drained";
  runUntil([&] { return st->closed; });
  EXPECT_TRUE(client_->input_ended_hook);
  EXPECT_EQ(st->status, "");
}

TEST_F(Http2ConnectionTest, LargeBodyCrossesSmallWindowsByWindowUpdates) {
  ConnectionOptions small;
  small.stream_window = 64u << 10;
  small.connection_window = 128u << 10;
  connect(small, small);
  std::string body(8u << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
  auto st = client_->request(body);
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->status, "200");
  EXPECT_TRUE(st->received == body)
      << "echo of " << body.size() << " bytes differs, got " << st->received.size() << " bytes";
}

TEST_F(Http2ConnectionTest, ManualWindowUpdateHoldsTheSenderUntilConsumed) {
  ConnectionOptions server_options;
  server_options.stream_window = 64u << 10;
  server_options.connection_window = 1u << 20;
  server_options.manual_window_update = true;
  connect({}, server_options);
  settle();
  runUntilQuiet();  // our SETTINGS are acknowledged: the client sends within our windows
  const std::string body(1u << 20, 'x');
  auto st = client_->request(body);
  runUntil([&] { return server_->seen.size() == 1; });
  auto& at_server = *server_->seen.begin()->second;
  runUntilQuiet();
  EXPECT_EQ(at_server.received.size(), size_t{64u << 10}) << "exactly one stream window";
  while (!at_server.ended) {
    const size_t before = at_server.received.size();
    server_->consumeAll(at_server);
    runUntil([&] { return at_server.received.size() > before || at_server.ended; });
    runUntilQuiet();
    EXPECT_LE(at_server.received.size(), before + (64u << 10));
  }
  EXPECT_EQ(at_server.received, body);
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->received, body);
}

TEST_F(Http2ConnectionTest, BadInputIsAnsweredWithGoawayThenClosed) {
  Socket raw = rawPeerOfServer();
  asio::write(raw, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_EQ(goawayCodeBeforeEof(raw), int{NGHTTP2_PROTOCOL_ERROR});
}

// A SETTINGS or PING flood from a peer that reads every ACK (so nghttp2's queued-ACK limit never
// trips) ends at the control-frame budget.
TEST_F(Http2ConnectionTest, SettingsAndPingFloodsBeyondTheBudgetEndWithEnhanceYourCalm) {
  for (uint8_t type : {uint8_t{NGHTTP2_SETTINGS}, uint8_t{NGHTTP2_PING}}) {
    SCOPED_TRACE(type == NGHTTP2_PING ? "PING" : "SETTINGS");
    ConnectionOptions options;
    options.control_frame_burst = 20;
    options.control_frames_per_second = 1;
    Socket raw = rawPeerOfServer(options);
    std::string bytes = kPreface + frame(NGHTTP2_SETTINGS, 0, 0, "");
    const std::string payload = type == NGHTTP2_PING ? std::string(8, 'p') : std::string();
    for (int i = 0; i < 200; ++i) bytes += frame(type, 0, 0, payload);
    asio::write(raw, asio::buffer(bytes));
    EXPECT_EQ(goawayCodeBeforeEof(raw), int{NGHTTP2_ENHANCE_YOUR_CALM});
  }
}

// Within the budget nothing happens: PINGs (and their ACKs) are ordinary traffic.
TEST_F(Http2ConnectionTest, PingsWithinTheBudgetKeepTheConnection) {
  ConnectionOptions server_options;
  server_options.control_frame_burst = 20;
  connect({}, server_options);
  settle();
  for (int i = 0; i < 15; ++i) client_->submitPing();
  runUntil([&] { return client_->ping_acks == 15; });
  EXPECT_FALSE(server_->closed());
  auto st = client_->request("still here");
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->received, "still here");
}

// Empty DATA frames without END_STREAM on an open stream: the 101st in a row ends the
// connection; a frame with payload in between resets the count.
TEST_F(Http2ConnectionTest, EmptyDataFloodEndsWithEnhanceYourCalm) {
  Socket raw = rawPeerOfServer();
  // HEADERS (stream 1, END_HEADERS): :method POST, :scheme http, :path /, :authority a.
  std::string bytes = kPreface + frame(NGHTTP2_SETTINGS, 0, 0, "") +
                      frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1,
                            std::string("\x83\x86\x84\x41\x01\x61", 6));
  for (int i = 0; i < 90; ++i) bytes += frame(NGHTTP2_DATA, 0, 1, "");
  bytes += frame(NGHTTP2_DATA, 0, 1, "x");
  for (int i = 0; i < 100; ++i) bytes += frame(NGHTTP2_DATA, 0, 1, "");
  asio::write(raw, asio::buffer(bytes));
  runUntilQuiet();
  EXPECT_FALSE(server_->closed()) << "90 + 100 empty frames with data between are allowed";
  bytes.clear();
  for (int i = 0; i < 5; ++i) bytes += frame(NGHTTP2_DATA, 0, 1, "");
  asio::write(raw, asio::buffer(bytes));
  EXPECT_EQ(goawayCodeBeforeEof(raw), int{NGHTTP2_ENHANCE_YOUR_CALM});
}

// Slowloris: a header block begun (HEADERS without END_HEADERS) and never finished. The header
// timeout closes the connection although a stream is open and the idle policy would keep it.
TEST_F(Http2ConnectionTest, UnfinishedHeaderBlockClosesTheConnectionAfterTheHeaderTimeout) {
  ConnectionOptions options;
  options.header_timeout = 200ms;
  options.idle_policy = IdlePolicy::kNoOpenStreams;
  Socket raw = rawPeerOfServer(options);
  // Preface, empty SETTINGS, HEADERS (stream 1, no END_HEADERS) with ":method: GET" (index 2).
  std::string bytes =
      kPreface + frame(NGHTTP2_SETTINGS, 0, 0, "") + frame(NGHTTP2_HEADERS, 0, 1, "\x82");
  asio::write(raw, asio::buffer(bytes));
  const auto began = std::chrono::steady_clock::now();
  runUntil([&] { return server_->closed(); });
  // Not a timing assertion: closing before the timeout would be the bug.
  EXPECT_GE(std::chrono::steady_clock::now() - began, 200ms);
}

// The same connection with the header block completed stays open past the header timeout.
TEST_F(Http2ConnectionTest, CompletedHeaderBlockDisarmsTheHeaderTimeout) {
  ConnectionOptions server_options;
  server_options.header_timeout = 100ms;
  connect({}, server_options);
  settle();
  auto st = client_->request("", /*hold=*/true);
  ASSERT_GT(st->id, 0);
  const auto until = std::chrono::steady_clock::now() + 400ms;
  while (std::chrono::steady_clock::now() < until) {
    io_.restart();
    io_.run_one_for(20ms);
  }
  EXPECT_FALSE(server_->closed());
  EXPECT_FALSE(client_->closed());
}

// A peer that opens the windows wide, asks for a large answer and then reads nothing: the
// server's transport write stays stuck, and the send-stall timeout closes the connection
// although a stream is open and the idle policy would keep it.
TEST_F(Http2ConnectionTest, PeerThatStopsReadingIsClosedAfterTheSendStallTimeout) {
  ConnectionOptions options;
  options.send_stall_timeout = 200ms;
  options.idle_policy = IdlePolicy::kNoOpenStreams;
  Socket raw = rawPeerOfServer(options);
  constexpr size_t kFrames = 60, kFrameBytes = 16384;
  // SETTINGS_INITIAL_WINDOW_SIZE 2^31-1, and the connection window opened to the same.
  std::string bytes = kPreface +
                      frame(NGHTTP2_SETTINGS, 0, 0, std::string("\x00\x04\x7f\xff\xff\xff", 6)) +
                      frame(NGHTTP2_WINDOW_UPDATE, 0, 0, std::string("\x7f\xff\x00\x00", 4)) +
                      frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1,
                            std::string("\x83\x86\x84\x41\x01\x61", 6));
  for (size_t i = 0; i < kFrames; ++i) {
    bytes += frame(NGHTTP2_DATA, i + 1 == kFrames ? NGHTTP2_FLAG_END_STREAM : 0, 1,
                   std::string(kFrameBytes, 'x'));
  }
  asio::async_write(raw, asio::buffer(bytes), [](boost::system::error_code, size_t) {});
  const auto began = std::chrono::steady_clock::now();
  runUntil([&] { return server_->closed(); });
  EXPECT_GE(std::chrono::steady_clock::now() - began, 200ms);
  ASSERT_EQ(server_->seen.count(1), 1u);
  EXPECT_EQ(server_->seen[1]->received.size(), kFrames * kFrameBytes);
}

// A raw client that allows the server `max_frame_size`-byte frames (0: the default, 16 KiB)
// POSTs `body` in one DATA frame; returns the server's frames (type, flags, payload) up to the
// response's END_STREAM.
struct RawFrame {
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string payload;
};

class Http2FrameSizeTest : public Http2ConnectionTest, public ::testing::WithParamInterface<bool> {
 protected:
  std::vector<RawFrame> echo(const std::string& body, uint32_t max_frame_size,
                             ConnectionOptions options = {}) {
    Socket raw = rawPeerOfServer(std::move(options));
    server_->no_copy = GetParam();
    auto setting = [](uint16_t id, uint32_t value) {
      return std::string{static_cast<char>(id >> 8),     static_cast<char>(id),
                         static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                         static_cast<char>(value >> 8),  static_cast<char>(value)};
    };
    std::string settings = setting(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 16u << 20);
    if (max_frame_size > 0) settings += setting(NGHTTP2_SETTINGS_MAX_FRAME_SIZE, max_frame_size);
    const uint32_t increment = 16u << 20;
    std::string bytes =
        kPreface + frame(NGHTTP2_SETTINGS, 0, 0, settings) +
        frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "") +
        frame(NGHTTP2_WINDOW_UPDATE, 0, 0,
              std::string{static_cast<char>(increment >> 24), static_cast<char>(increment >> 16),
                          static_cast<char>(increment >> 8), static_cast<char>(increment)});
    // :method POST, :scheme http, :path /, :authority a (HPACK static table).
    bytes += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1,
                   std::string("\x83\x86\x84\x41\x01\x61", 6));
    // After our SETTINGS ACK the server accepts frames up to its advertised size, 1 MiB.
    bytes += frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, body);
    asio::async_write(raw, asio::buffer(bytes), [](boost::system::error_code, size_t) {});
    std::string got;
    std::vector<RawFrame> frames;
    bool ended = false;
    std::array<char, 65536> buf;
    std::function<void(boost::system::error_code, size_t)> on_read = [&](boost::system::error_code
                                                                             ec,
                                                                         size_t n) {
      if (ec) return;
      got.append(buf.data(), n);
      while (got.size() >= 9) {
        const size_t len = (size_t{static_cast<uint8_t>(got[0])} << 16) |
                           (size_t{static_cast<uint8_t>(got[1])} << 8) |
                           static_cast<uint8_t>(got[2]);
        if (got.size() < 9 + len) break;
        RawFrame f{static_cast<uint8_t>(got[3]), static_cast<uint8_t>(got[4]), got.substr(9, len)};
        if (f.type == NGHTTP2_DATA && (f.flags & NGHTTP2_FLAG_END_STREAM)) ended = true;
        frames.push_back(std::move(f));
        got.erase(0, 9 + len);
      }
      if (!ended) raw.async_read_some(asio::buffer(buf), on_read);
    };
    raw.async_read_some(asio::buffer(buf), on_read);
    runUntil([&] { return ended; });
    return frames;
  }

  static std::string dataOf(const std::vector<RawFrame>& frames) {
    std::string data;
    for (const RawFrame& f : frames) {
      if (f.type == NGHTTP2_DATA) data += f.payload;
    }
    return data;
  }
  static size_t largestData(const std::vector<RawFrame>& frames) {
    size_t largest = 0;
    for (const RawFrame& f : frames) {
      if (f.type == NGHTTP2_DATA) largest = std::max(largest, f.payload.size());
    }
    return largest;
  }
  static std::string patterned(size_t n) {
    std::string body(n, '\0');
    for (size_t i = 0; i < n; ++i) body[i] = static_cast<char>(i * 131 % 251);
    return body;
  }
};

TEST_P(Http2FrameSizeTest, PeerWithTheDefaultMaxFrameSizeGetsFramesOf16KiBAtMost) {
  const std::string body = patterned(300u << 10);
  auto frames = echo(body, 0);
  EXPECT_EQ(dataOf(frames), body);
  EXPECT_EQ(largestData(frames), size_t{16384});
}

TEST_P(Http2FrameSizeTest, PeerAllowingLargeFramesGetsThemUpToOurSendLimit) {
  const std::string body = patterned(300u << 10);
  ConnectionOptions options;
  options.max_send_frame = 64u << 10;
  auto frames = echo(body, 1u << 20, options);
  EXPECT_EQ(dataOf(frames), body);
  EXPECT_EQ(largestData(frames), size_t{64u << 10});
}

TEST_P(Http2FrameSizeTest, PeerLimitBelowOursWins) {
  const std::string body = patterned(100u << 10);
  ConnectionOptions options;
  options.max_send_frame = 1u << 20;
  auto frames = echo(body, 20000, options);
  EXPECT_EQ(dataOf(frames), body);
  EXPECT_EQ(largestData(frames), size_t{20000});
}

TEST_P(Http2FrameSizeTest, OurSettingsAdvertiseTheMaxFrameSize) {
  ConnectionOptions options;
  options.max_frame_size = 256u << 10;
  auto frames = echo("x", 0, options);
  bool advertised = false;
  for (const RawFrame& f : frames) {
    if (f.type != NGHTTP2_SETTINGS || (f.flags & NGHTTP2_FLAG_ACK)) continue;
    for (size_t at = 0; at + 6 <= f.payload.size(); at += 6) {
      auto byte = [&](size_t i) { return static_cast<uint8_t>(f.payload[at + i]); };
      const uint16_t id = static_cast<uint16_t>((byte(0) << 8) | byte(1));
      const uint32_t value = (uint32_t{byte(2)} << 24) | (uint32_t{byte(3)} << 16) |
                             (uint32_t{byte(4)} << 8) | byte(5);
      if (id == NGHTTP2_SETTINGS_MAX_FRAME_SIZE) advertised = value == (256u << 10);
    }
  }
  EXPECT_TRUE(advertised);
}

TEST_P(Http2FrameSizeTest, LargeBodyBothWaysBetweenTwoEnds) {
  ConnectionOptions options;
  options.stream_window = 256u << 10;
  options.connection_window = 512u << 10;
  connect(options, options);
  client_->no_copy = GetParam();
  server_->no_copy = GetParam();
  const std::string body = patterned(6u << 20);
  auto st = client_->request(body);
  runUntil([&] { return st->closed; });
  EXPECT_EQ(st->status, "200");
  EXPECT_TRUE(st->received == body) << "echo differs, got " << st->received.size() << " bytes";
}

INSTANTIATE_TEST_SUITE_P(CopyAndNoCopy, Http2FrameSizeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("NoCopy") : std::string("Copy");
                         });

}  // namespace
}  // namespace ambit::http2::testing
