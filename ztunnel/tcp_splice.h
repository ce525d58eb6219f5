#pragma once
// Copies bytes both ways between two TCP sockets until both directions are closed (EOF is
// passed on as a half-close; an error on either side closes both). Used for passthrough
// (destinations outside the mesh) and inbound plaintext.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/status.h"

namespace ambit::ztunnel {

struct TcpSpliceResult {
  uint64_t a_to_b = 0;
  uint64_t b_to_a = 0;
  Status status;
};

boost::asio::awaitable<TcpSpliceResult> spliceTcp(boost::asio::ip::tcp::socket& a,
                                                  boost::asio::ip::tcp::socket& b);

}  // namespace ambit::ztunnel
