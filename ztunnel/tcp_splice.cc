#include "ztunnel/tcp_splice.h"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

// A small buffer per direction; a direction that fills it (bulk data) switches to a large one
// until reads come back small again (a fixed 64 KiB per direction made idle connections costly).
constexpr size_t kIdleReadChunk = 2 * 1024;
constexpr size_t kBulkReadChunk = 64 * 1024;
constexpr size_t kShrinkBelow = kBulkReadChunk / 4;

// One direction: from -> to, half-closing `to` on EOF. Returns bytes copied; an error resets
// both sockets so the other direction ends too.
asio::awaitable<uint64_t> pump(tcp::socket& from, tcp::socket& to, Status& status) {
  std::array<char, kIdleReadChunk> small;
  std::unique_ptr<char[]> bulk;
  uint64_t total = 0;
  for (;;) {
    boost::system::error_code ec;
    const auto buf = bulk ? asio::buffer(bulk.get(), kBulkReadChunk) : asio::buffer(small);
    size_t n = co_await from.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      boost::system::error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return total;
    }
    if (ec) {
      if (status) status = makeError("read: {}", ec.message());
      break;
    }
    co_await asio::async_write(to, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (status) status = makeError("write: {}", ec.message());
      break;
    }
    total += n;
    if (!bulk && n == small.size()) {
      bulk = std::make_unique_for_overwrite<char[]>(kBulkReadChunk);
    } else if (bulk && n < kShrinkBelow) {
      bulk.reset();
    }
  }
  boost::system::error_code ignored;
  from.close(ignored);
  to.close(ignored);
  co_return total;
}

}  // namespace

asio::awaitable<TcpSpliceResult> spliceTcp(tcp::socket& a, tcp::socket& b) {
  TcpSpliceResult r;
  auto [ab, ba] = co_await (pump(a, b, r.status) && pump(b, a, r.status));
  r.a_to_b = ab;
  r.b_to_a = ba;
  co_return r;
}

}  // namespace ambit::ztunnel
