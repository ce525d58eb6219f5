#include "tests/unit/ztunnel/fakes.h"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "common/async/spawn.h"
#include "common/hbone/protocol.h"
#include "common/listeners.h"

namespace ambit::ztunnel::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<UniqueFd> LoopbackSockets::socket(int, int family) {
  ++sockets_made;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errnoError("socket");
  return fd;
}

Result<UniqueFd> LoopbackSockets::listener(int, const tcp::endpoint& endpoint, bool) {
  requested.push_back(endpoint);
  const bool v6 = endpoint.address().is_v6();
  tcp::endpoint local(v6 ? asio::ip::address(asio::ip::address_v6::loopback())
                         : asio::ip::address(asio::ip::address_v4::loopback()),
                      0);
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errnoError("socket");
  if (::bind(fd.get(), static_cast<const sockaddr*>(local.data()),
             static_cast<socklen_t>(local.size())) != 0) {
    return errnoError("bind loopback");
  }
  if (::listen(fd.get(), 64) != 0) return errnoError("listen");
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  tcp::endpoint actual;
  std::memcpy(actual.data(), &ss, len);
  actual.resize(len);
  bound.emplace(endpoint.port(), actual);
  if (auto inode = socketInode(fd.get())) inodes.emplace(endpoint.port(), *inode);
  return fd;
}

Result<std::vector<uint64_t>> LoopbackSockets::listeners(int, const tcp::endpoint& endpoint) {
  if (!listeners_error.empty()) return makeError("{}", listeners_error);
  std::vector<uint64_t> found;
  for (const auto* m : {&inodes, &others}) {
    for (auto [it, end] = m->equal_range(endpoint.port()); it != end; ++it) {
      found.push_back(it->second);
    }
  }
  return found;
}

tcp::endpoint LoopbackSockets::where(const std::string& address, uint16_t port) const {
  const bool v6 = asio::ip::make_address(address).is_v6();
  for (auto [it, end] = bound.equal_range(port); it != end; ++it) {
    if (it->second.address().is_v6() == v6) return it->second;
  }
  ADD_FAILURE() << "no listener was asked for " << address << ":" << port;
  return {};
}

void ScriptedTunnel::splice(tcp::socket app, hbone::SpliceDone done) {
  auto ex = app.get_executor();
  spawn(
      ex,
      // The proxy drops the tunnel once it is spliced: the coroutine keeps what it needs.
      [reply = reply_, app = std::move(app),
       done = std::move(done)]() mutable -> asio::awaitable<void> {
        hbone::SpliceResult r = co_await run(reply, app);
        if (done) done(r);
      },
      "scripted tunnel");
}

asio::awaitable<hbone::SpliceResult> ScriptedTunnel::run(std::string reply, tcp::socket& app) {
  hbone::SpliceResult r;
  boost::system::error_code ec;
  co_await asio::async_write(app, asio::buffer(reply),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) r.bytes_received = reply.size();
  app.shutdown(tcp::socket::shutdown_send, ec);
  std::string from_app;
  co_await asio::async_read(app, asio::dynamic_buffer(from_app),
                            asio::redirect_error(asio::use_awaitable, ec));
  r.bytes_sent = from_app.size();
  co_return r;
}

asio::awaitable<Result<std::unique_ptr<Tunnel>>> FakeDialer::dial(
    const hbone::Destination& destination, const hbone::TunnelRequest& request) {
  dials.push_back(Dial{hbone::formatAuthority(destination.address), request.authority,
                       destination.source_identity, destination.expected_server_ids,
                       request.source.is_unspecified() ? "" : request.source.to_string()});
  if (script.empty()) co_return makeError("refused: HTTP 503 (script ended)");
  Answer a = std::move(script.front());
  script.pop_front();
  if (a.error) co_return *a.error;
  co_return std::unique_ptr<Tunnel>(std::make_unique<ScriptedTunnel>(std::move(a.reply)));
}

}  // namespace ambit::ztunnel::testing
