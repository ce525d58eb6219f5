#include "sample-app/http_server.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"

namespace ambit::sample {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(120);

// One client connection: read request → handle → (delay) → write → repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, RequestHandler& handler)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), handler_(handler) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      peer_ = addr.is_v6() ? "[" + addr.to_string() + "]:" + std::to_string(ep.port())
                           : addr.to_string() + ":" + std::to_string(ep.port());
    }
  }

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->onRequest();
                     });
  }

  void onRequest() {
    reply_ = handler_.handle(request_, peer_);
    if (reply_.delay.count() == 0) return write();
    timer_.expires_after(reply_.delay);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->write();
    });
  }

  void write() {
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, reply_.response,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (self->reply_.response.keep_alive()) return self->read();
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  RequestHandler& handler_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  Reply reply_;
  std::string peer_;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, RequestHandler& handler)
    : ioc_(ioc), handler_(handler) {}

Status HttpServer::listen(uint16_t port) {
  AMBIT_TRY(listenOn(tcp::endpoint(tcp::v4(), port)));
  port_ = acceptors_.back()->local_endpoint().port();
  AMBIT_TRY(listenOn(tcp::endpoint(tcp::v6(), port_)));
  for (auto& a : acceptors_) accept(*a);
  return Status::ok();
}

Status HttpServer::listenOn(const tcp::endpoint& ep) {
  auto acceptor = std::make_unique<tcp::acceptor>(ioc_);
  beast::error_code ec;
  std::string where = (ep.address().is_v6() ? "[::]:" : "0.0.0.0:") + std::to_string(ep.port());
  if (acceptor->open(ep.protocol(), ec); ec) return makeError("open {}: {}", where, ec.message());
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (acceptor->bind(ep, ec); ec) return makeError("bind {}: {}", where, ec.message());
  if (acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) {
    return makeError("listen {}: {}", where, ec.message());
  }
  acceptors_.push_back(std::move(acceptor));
  return Status::ok();
}

void HttpServer::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept(asio::make_strand(ioc_),
                        [this, &acceptor](beast::error_code ec, tcp::socket socket) {
                          if (!ec) {
                            socket.set_option(tcp::no_delay(true), ec);
                            std::make_shared<Session>(std::move(socket), handler_)->start();
                          } else {
                            logWarn("accept: {}", ec.message());
                          }
                          accept(acceptor);
                        });
}

}  // namespace ambit::sample
