// spliceTcp: half-close both ways with byte counts, a transfer larger than the socket buffers
// through a reader that pauses (the kept remainder and the writability wait), an error that ends
// both directions, and the callback's absence when the io_context goes first. Loopback only.
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
  // client <-> [a | splice | b] <-> server
  void splice() {
    auto [client_side, a] = connectedPair();
    auto [b, server_side] = connectedPair();
    client = std::move(client_side);
    server = std::move(server_side);
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
  splice();
  constexpr size_t kBytes = 24u << 20;
  std::string sent(kBytes, '\0');
  for (size_t i = 0; i < kBytes; ++i) sent[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string got;
  bool read_done = false;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Nothing read for a while: the splice fills the socket and must keep what is left.
        asio::steady_timer pause(io, std::chrono::milliseconds(300));
        co_await pause.async_wait(asio::use_awaitable);
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
        client.shutdown(tcp::socket::shutdown_send);
      },
      "writer");
  ASSERT_TRUE(runUntil([&] { return read_done; }));
  EXPECT_EQ(got.size(), kBytes);
  EXPECT_TRUE(got == sent) << "bytes changed or reordered in the splice";
  server.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(runUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(result->status) << result->status.message();
  EXPECT_EQ(result->a_to_b, kBytes);
  EXPECT_EQ(result->b_to_a, 0u);
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
  {
    asio::io_context io;
    asio::ip::tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket a(io), b(io), c(io), d(io);
    a.connect(listener.local_endpoint());
    listener.accept(b);
    c.connect(listener.local_endpoint());
    listener.accept(d);
    spliceTcp(std::move(b), std::move(c), [&calls](const TcpSpliceResult&) { ++calls; });
    io.run_for(std::chrono::milliseconds(20));  // both directions now wait, idle
  }  // the pending waits go with the io_context, and the splice with them (no leak: ASan builds)
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace ambit::ztunnel::testing
