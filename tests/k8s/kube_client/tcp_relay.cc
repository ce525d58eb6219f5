#include "tests/k8s/kube_client/tcp_relay.h"

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"

namespace ambit::kube::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct TcpRelay::Pair {
  explicit Pair(asio::io_context& io, tcp::socket c) : client(std::move(c)), server(io) {}
  void close() {
    boost::system::error_code ignored;
    client.close(ignored);
    server.close(ignored);
  }
  tcp::socket client, server;
};

namespace {

asio::awaitable<void> pump(std::shared_ptr<void> keep, tcp::socket& from, tcp::socket& to) {
  std::array<char, 16384> buf;
  boost::system::error_code ec;
  for (;;) {
    size_t n = co_await from.async_read_some(asio::buffer(buf),
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(to, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  boost::system::error_code ignored;
  to.shutdown(tcp::socket::shutdown_send, ignored);
  (void)keep;
}

}  // namespace

TcpRelay::TcpRelay(asio::io_context& io, tcp::endpoint upstream)
    : io_(io),
      upstream_(upstream),
      acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  accept();
}

void TcpRelay::block() {
  blocked_ = true;
  for (auto& w : pairs_) {
    if (auto p = w.lock()) p->close();
  }
  pairs_.clear();
}

void TcpRelay::stop() {
  block();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void TcpRelay::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (ec) return;
    accept();
    if (blocked_) {
      boost::system::error_code ignored;
      s.close(ignored);
      return;
    }
    auto pair = std::make_shared<Pair>(io_, std::move(s));
    pairs_.push_back(pair);
    pair->server.async_connect(upstream_, [pair](boost::system::error_code ec) {
      if (ec) {
        pair->close();
        return;
      }
      spawn(pair->client.get_executor(), pump(pair, pair->client, pair->server),
            "relay client->server");
      spawn(pair->client.get_executor(), pump(pair, pair->server, pair->client),
            "relay server->client");
    });
  });
}

}  // namespace ambit::kube::testing
