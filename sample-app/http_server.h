#pragma once
// The sample app's HTTP/1.1 server: keep-alive, IPv4 and IPv6 listeners on one port, a strand
// per connection, run on N threads by the caller (io_context::run on each).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "sample-app/request_handler.h"

namespace ambit::sample {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, RequestHandler& handler);

  // Listens on 0.0.0.0:port and [::]:port (IPV6_V6ONLY) and starts accepting. port 0 picks
  // one port for IPv4 and reuses it for IPv6.
  Status listen(uint16_t port);
  uint16_t port() const { return port_; }

 private:
  Status listenOn(const boost::asio::ip::tcp::endpoint& ep);
  void accept(boost::asio::ip::tcp::acceptor& acceptor);

  boost::asio::io_context& ioc_;
  RequestHandler& handler_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  uint16_t port_ = 0;
};

}  // namespace ambit::sample
