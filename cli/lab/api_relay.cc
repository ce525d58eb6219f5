#include "cli/lab/api_relay.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <optional>

#include "common/async/spawn.h"
#include "common/log.h"
#include "common/netns.h"

namespace ambit::lab {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, 16384> buf;
  boost::system::error_code ec;
  for (;;) {
    size_t n = co_await from->async_read_some(asio::buffer(buf),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(*to, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  boost::system::error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
  from->shutdown(tcp::socket::shutdown_receive, ignored);
}

asio::awaitable<void> serve(tcp::acceptor& acceptor, tcp::endpoint upstream) {
  for (;;) {
    boost::system::error_code ec;
    auto client = std::make_shared<tcp::socket>(
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec)));
    if (ec) continue;
    auto server = std::make_shared<tcp::socket>(acceptor.get_executor());
    co_await server->async_connect(upstream, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      logWarn("api relay: connect {}: {}", upstream.address().to_string(), ec.message());
      continue;  // the client sees its connection close
    }
    spawn(acceptor.get_executor(), pump(client, server), "api relay client->server");
    spawn(acceptor.get_executor(), pump(server, client), "api relay server->client");
  }
}

Result<tcp::endpoint> endpointOf(const std::string& text, const std::string& what) {
  auto hp = splitHostPort(text, what);
  AMBIT_TRY(hp);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(hp->first, ec);
  if (ec) return makeError("{} '{}': '{}' is not an IP address", what, text, hp->first);
  return tcp::endpoint(address, hp->second);
}

}  // namespace

Result<std::pair<std::string, uint16_t>> splitHostPort(const std::string& text,
                                                       const std::string& what) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return makeError("{} '{}': expected host:port", what, text);
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint16_t port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || port == 0) {
    return makeError("{} '{}': the port must be 1-65535", what, text);
  }
  return std::pair<std::string, uint16_t>{host, port};
}

Status runApiRelay(const ApiRelayOptions& o) {
  auto listen = endpointOf(o.listen, "--listen");
  AMBIT_TRY(listen);
  auto upstream = endpointOf(o.upstream, "--upstream");
  AMBIT_TRY(upstream);
  auto netns = openNetns(o.listen_netns);
  AMBIT_TRY(netns);
  asio::io_context io;
  // The listening socket is created inside the underlay netns and stays there; the upstream
  // sockets are created later, from this thread's own netns.
  std::optional<tcp::acceptor> acceptor;
  auto opened = inNetns(netns->get(), [&]() -> Status {
    boost::system::error_code ec;
    acceptor.emplace(io);
    acceptor->open(listen->protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(*listen, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return Status::ok();
    return makeError("listen on {} in {}: {}", o.listen, o.listen_netns, ec.message());
  });
  AMBIT_TRY(opened);
  logInfo("api relay: {} (in {}) -> {}", o.listen, o.listen_netns, o.upstream);
  spawn(io, serve(*acceptor, *upstream), "api relay");
  io.run();
  return makeError("api relay stopped");
}

}  // namespace ambit::lab
