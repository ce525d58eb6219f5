#include "ztunnel/tcp_splice.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <memory>
#include <span>

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Reads land here and are written from here at once, so a splice keeps no buffer of its own
// unless the destination is full.
constexpr size_t kScratch = 64 * 1024;
// Reads in one turn of the event loop per direction before yielding to other connections.
constexpr int kReadsPerTurn = 16;
// A read shorter than asked and smaller than this (request/response traffic, not bulk) emptied
// the socket: the splice waits for readability next instead of reading again for EAGAIN.
constexpr size_t kSmallRead = 16 * 1024;

std::span<char> scratch() {
  thread_local std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(kScratch);
  return {buffer.get(), kScratch};
}

class TcpSplice final : public std::enable_shared_from_this<TcpSplice> {
 public:
  TcpSplice(tcp::socket a, tcp::socket b, std::function<void(const TcpSpliceResult&)> done)
      : sockets_{std::move(a), std::move(b)}, done_(std::move(done)) {}
  TcpSplice(const TcpSplice&) = delete;
  TcpSplice& operator=(const TcpSplice&) = delete;

  void start() {
    for (auto& s : sockets_) {
      error_code ec;
      s.non_blocking(true, ec);
      if (ec) {
        fail(0, "socket", ec);
        fail(1, "socket", ec);
        return;
      }
    }
    pump(0);
    pump(1);
  }

 private:
  // Direction 0 copies socket 0 -> 1, direction 1 socket 1 -> 0.
  struct Direction {
    std::unique_ptr<char[]> pending;  // read, not yet written (only while `to` is full)
    size_t pending_at = 0;
    size_t pending_size = 0;
    uint64_t total = 0;
    bool done = false;
  };

  void pump(int d) {
    Direction& dir = dirs_[d];
    tcp::socket& from = sockets_[d];
    tcp::socket& to = sockets_[1 - d];
    if (dir.done) return;
    for (int reads = 0;;) {
      error_code ec;
      if (dir.pending_size > 0) {
        const size_t n =
            to.write_some(asio::buffer(dir.pending.get() + dir.pending_at, dir.pending_size), ec);
        if (ec == asio::error::would_block) return waitWritable(d);
        if (ec) return fail(d, "write", ec);
        dir.total += n;
        dir.pending_at += n;
        dir.pending_size -= n;
        if (dir.pending_size > 0) continue;
        dir.pending.reset();
      }
      if (reads++ == kReadsPerTurn) {
        asio::post(from.get_executor(), [self = shared_from_this(), d] { self->pump(d); });
        return;
      }
      std::span<char> buf = scratch();
      const size_t n = from.read_some(asio::buffer(buf.data(), buf.size()), ec);
      if (ec == asio::error::would_block) return waitReadable(d);
      if (ec == asio::error::eof) {
        error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        return end(d);
      }
      if (ec) return fail(d, "read", ec);
      size_t written = to.write_some(asio::buffer(buf.data(), n), ec);
      const bool full = ec == asio::error::would_block;
      if (full) {
        written = 0;
      } else if (ec) {
        return fail(d, "write", ec);
      }
      dir.total += written;
      if (written < n) {  // keep the rest until `to` takes it
        dir.pending_size = n - written;
        dir.pending_at = 0;
        dir.pending = std::make_unique_for_overwrite<char[]>(dir.pending_size);
        std::memcpy(dir.pending.get(), buf.data() + written, dir.pending_size);
        if (full) return waitWritable(d);
      }
      // A small short read emptied the socket: wait rather than read again only to hear EAGAIN
      // (the wait completes at once for bytes that came in between).
      if (n < kSmallRead && dir.pending_size == 0) return waitReadable(d);
    }
  }

  void waitReadable(int d) {
    sockets_[d].async_wait(tcp::socket::wait_read, [self = shared_from_this(), d](error_code ec) {
      if (ec) return self->fail(d, "read", ec);
      self->pump(d);
    });
  }

  void waitWritable(int d) {
    sockets_[1 - d].async_wait(tcp::socket::wait_write,
                               [self = shared_from_this(), d](error_code ec) {
                                 if (ec) return self->fail(d, "write", ec);
                                 self->pump(d);
                               });
  }

  // An error ends both directions: the sockets are closed, so the other one's wait fails too.
  void fail(int d, const char* what, const error_code& ec) {
    if (result_.status) result_.status = makeError("{}: {}", what, ec.message());
    for (auto& s : sockets_) {
      error_code ignored;
      s.close(ignored);
    }
    end(d);
  }

  void end(int d) {
    if (dirs_[d].done) return;
    dirs_[d].done = true;
    dirs_[d].pending.reset();
    if (!dirs_[0].done || !dirs_[1].done) return;
    result_.a_to_b = dirs_[0].total;
    result_.b_to_a = dirs_[1].total;
    auto done = std::move(done_);
    if (done) done(result_);
  }

  tcp::socket sockets_[2];
  Direction dirs_[2];
  std::function<void(const TcpSpliceResult&)> done_;
  TcpSpliceResult result_;
};

}  // namespace

void spliceTcp(tcp::socket a, tcp::socket b, std::function<void(const TcpSpliceResult&)> done) {
  std::make_shared<TcpSplice>(std::move(a), std::move(b), std::move(done))->start();
}

}  // namespace ambit::ztunnel
