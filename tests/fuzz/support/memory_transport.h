#pragma once
// Fuzzing support: an http2::Transport over bytes in memory, and the loop that runs an
// io_context until nothing is ready to run.
//
// The transport hands the fuzz input to the connection in reads of at most `chunk` bytes,
// discards what the connection writes (counting it), and, once the input is used up, keeps the
// read pending until the harness calls MemoryFeed::endInput() (the peer ends its direction,
// read() returns 0) or the connection closes the transport. So the connection first processes
// everything it was sent, as it would with a live peer, and then sees the end.

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "common/async/signal.h"
#include "common/http2/transport.h"

namespace ambit::fuzz {

// Shared by the transport (owned by the connection) and the harness.
struct MemoryFeed {
  explicit MemoryFeed(const asio::any_io_executor& executor) : wake(executor) {}

  void endInput() {
    input_ended = true;
    wake.notify();
  }

  std::string input;
  size_t offset = 0;
  size_t chunk = 16 * 1024;
  bool input_ended = false;
  bool closed = false;  // finish() or close() was called
  size_t bytes_written = 0;
  Signal wake;
};

class MemoryTransport final : public http2::Transport {
 public:
  explicit MemoryTransport(std::shared_ptr<MemoryFeed> feed) : feed_(std::move(feed)) {}

  asio::awaitable<Result<size_t>> read(asio::mutable_buffer buffer) override {
    auto feed = feed_;
    while (!feed->closed && feed->offset == feed->input.size() && !feed->input_ended) {
      co_await feed->wake.wait();
    }
    if (feed->closed) co_return Error{ECONNRESET, "transport closed"};
    if (feed->offset == feed->input.size()) co_return size_t{0};
    size_t n = std::min({buffer.size(), feed->chunk, feed->input.size() - feed->offset});
    std::memcpy(buffer.data(), feed->input.data() + feed->offset, n);
    feed->offset += n;
    co_return n;
  }

  asio::awaitable<Status> write(asio::const_buffer data) override {
    if (feed_->closed) co_return Error{EPIPE, "transport closed"};
    feed_->bytes_written += data.size();
    co_return Status::ok();
  }

  void finish() override { close(); }
  void close() override {
    feed_->closed = true;
    feed_->wake.notify();
  }

 private:
  std::shared_ptr<MemoryFeed> feed_;
};

// Runs handlers until none is ready (pending timers with a real deadline do not count), at
// most `max_rounds` polls. Returns false when the work did not settle.
inline bool runUntilIdle(asio::io_context& io, int max_rounds = 100000) {
  for (int i = 0; i < max_rounds; ++i) {
    io.restart();
    if (io.poll() == 0) return true;
  }
  return false;
}

}  // namespace ambit::fuzz
