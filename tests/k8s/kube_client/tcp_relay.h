#pragma once
// A loopback TCP relay the test can cut: every byte between a client and the API server passes
// through it, and block() drops every open connection and refuses new ones until unblock().
// It stands for a network partition between a node and the control plane (the API server
// itself keeps running and changing meanwhile). Single-threaded, on the test's io_context.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

namespace ambit::kube::testing {

class TcpRelay {
 public:
  TcpRelay(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint upstream);
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void block();
  void unblock() { blocked_ = false; }
  void stop();

 private:
  struct Pair;
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::endpoint upstream_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::weak_ptr<Pair>> pairs_;
  bool blocked_ = false;
};

}  // namespace ambit::kube::testing
