// spliceTcp: half-close both ways with byte counts, a transfer far larger than the socket
// buffers through a reader that pauses (the kept remainder, the writability wait, back-pressure),
// small messages back and forth (each a short read followed by a wait), an error that ends both
// directions, and teardown with the io_context. Loopback only.
#include "ztunnel/tcp_splice.h"

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "common/async/spawn.h"
#include "tests/unit/ztunnel/harness.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

class TcpSpliceTest : public ProxyTest {
 protected:
  // client <-> [a | splice | b] <-> server; `small_buffers`: 16 KiB socket buffers all along,
  // so what the sockets can hold is far below a bulk transfer.
  void splice(bool small_buffers = false) {
    auto [client_side, a] = connectedPair();
    auto [b, server_side] = connectedPair();
    client = std::move(client_side);
    server = std::move(server_side);
    if (small_buffers) {
      for (tcp::socket* s : {&client, &a, &b, &server}) {
        s->set_option(asio::socket_base::send_buffer_size(16 << 10));
        s->set_option(asio::socket_base::receive_buffer_size(16 << 10));
      }
    }
    spliceTcp(std::move(a), std::move(b), [this](const TcpSpliceResult& r) {
      ++calls;
      result = r;
    });
  }

  tcp::socket client{io};
  tcp::socket server{io};
  std::optional<TcpSpliceResult> result;
  int calls = 0;
};

TEST_F(TcpSpliceTest, HalfClosesBothWaysAndCountsBytes) {
  splice();
  std::optional<Exchange> at_server;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        at_server = co_await exchange(server, "response, 20 bytes..");
      },
      "server");
  Exchange at_client = run(exchange(client, "request of 17 b.."));
  ASSERT_TRUE(runUntil([&] { return at_server.has_value() && result.has_value(); }));
  EXPECT_EQ(at_server->received, "request of 17 b..");
  EXPECT_EQ(at_server->end, asio::error::eof);
  EXPECT_EQ(at_client.received, "response, 20 bytes..");
  EXPECT_EQ(at_client.end, asio::error::eof);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(result->status) << result->status.message();
  EXPECT_EQ(result->a_to_b, 17u);
  EXPECT_EQ(result->b_to_a, 20u);
}

TEST_F(TcpSpliceTest, CarriesMoreThanTheSocketBuffersThroughAPausingReader) {
  splice(/*small_buffers=*/true);
  constexpr size_t kBytes = 8u << 20;
  std::string sent(kBytes, '\0');
  for (size_t i = 0; i < kBytes; ++i) sent[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string got;
  bool read_done = false;
  bool write_done = false;
  bool write_done_after_pause = true;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Nothing read for a while: the splice fills the socket, must keep what is left and
        // stop reading, so the writer cannot finish (back-pressure, not buffering in the splice).
        asio::steady_timer pause(io, std::chrono::milliseconds(300));
        co_await pause.async_wait(asio::use_awaitable);
        write_done_after_pause = write_done;
        error_code ec;
        co_await asio::async_read(server, asio::dynamic_buffer(got),
                                  asio::redirect_error(asio::use_awaitable, ec));
        read_done = true;
      },
      "slow reader");
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_write(client, asio::buffer(sent), asio::use_awaitable);
        write_done = true;
        client.shutdown(tcp::socket::shutdown_send);
      },
      "writer");
  ASSERT_TRUE(runUntil([&] { return read_done; }));
  EXPECT_FALSE(write_done_after_pause) << "the splice kept reading while its reader paused";
  EXPECT_EQ(got.size(), kBytes);
  EXPECT_TRUE(got == sent) << "bytes changed or reordered in the splice";
  server.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(runUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(result->status) << result->status.message();
  EXPECT_EQ(result->a_to_b, kBytes);
  EXPECT_EQ(result->b_to_a, 0u);
}

// Request/response: after each message (a small short read) the splice waits for readability
// without reading again; every message must still arrive, in turn, none held back.
TEST_F(TcpSpliceTest, SmallMessagesBackAndForthAllArriveInTurn) {
  splice();
  constexpr int kRounds = 200;
  auto message = [](int i) { return "message " + std::to_string(i) + std::string(i % 37, '.'); };
  int answered = 0;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < kRounds; ++i) {
          std::string got(message(i).size(), '\0');
          error_code ec;
          co_await asio::async_read(server, asio::buffer(got),
                                    asio::redirect_error(asio::use_awaitable, ec));
          if (ec || got != message(i)) co_return;
          co_await asio::async_write(server, asio::buffer("re: " + got),
                                     asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          ++answered;
        }
      },
      "server");
  int round_trips = run([&]() -> asio::awaitable<int> {
    for (int i = 0; i < kRounds; ++i) {
      error_code ec;
      co_await asio::async_write(client, asio::buffer(message(i)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return i;
      std::string back(4 + message(i).size(), '\0');
      co_await asio::async_read(client, asio::buffer(back),
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec || back != "re: " + message(i)) co_return i;
    }
    co_return kRounds;
  }());
  EXPECT_EQ(round_trips, kRounds);
  EXPECT_EQ(answered, kRounds);
  client.shutdown(tcp::socket::shutdown_send);
  server.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(runUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(result->status) << result->status.message();
}

TEST_F(TcpSpliceTest, AResetEndsBothDirectionsWithTheError) {
  splice();
  // The server resets its connection: the splice fails that direction and closes both sockets,
  // so the client, which sent nothing and never half-closed, sees its connection end too.
  server.set_option(asio::socket_base::linger(true, 0));
  server.close();
  Exchange at_client = run(exchange(client, ""));
  ASSERT_TRUE(runUntil([&] { return result.has_value(); }));
  EXPECT_NE(at_client.end, error_code()) << "the client's side was closed";
  EXPECT_FALSE(result->status);
  EXPECT_NE(result->status.message().find("read"), std::string::npos) << result->status.message();
  EXPECT_EQ(calls, 1);
}

TEST(TcpSplice, DestroyedWithItsIoContextWithoutCallingBack) {
  int calls = 0;
  auto sentinel = std::make_shared<int>(0);  // held by the callback, so by the splice
  std::weak_ptr<int> splice_alive = sentinel;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket a(io), b(io), c(io), d(io);
    a.connect(listener.local_endpoint());
    listener.accept(b);
    c.connect(listener.local_endpoint());
    listener.accept(d);
    spliceTcp(std::move(b), std::move(c),
              [&calls, held = std::move(sentinel)](const TcpSpliceResult&) { ++calls; });
    io.run_for(std::chrono::milliseconds(20));  // both directions now wait, idle
    EXPECT_FALSE(splice_alive.expired()) << "the pending waits keep the splice";
  }  // the pending waits go with the io_context, and the splice with them
  EXPECT_TRUE(splice_alive.expired()) << "the splice outlived its io_context (a leak)";
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace ambit::ztunnel::testing
