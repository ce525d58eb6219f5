#pragma once
// Accept loops that survive running out of file descriptors.
//
// When the process is at RLIMIT_NOFILE (EMFILE), the system at fs.file-max (ENFILE) or the
// kernel short of socket memory (ENOBUFS/ENOMEM), accept() fails while the listening socket
// stays readable: a loop that retries at once burns a whole CPU and logs a line per attempt.
// AcceptBackoff decides what a loop does after a failed accept(); acceptUntilClosed() is the
// loop every ambit listener uses.
//
//   - an error of one connection (ECONNABORTED, a network error pending on it): retry now;
//   - a resource error: pause kMinDelay, doubling up to kMaxDelay while it lasts; the pending
//     connections wait in the listen backlog. One warning when it begins, then at most one per
//     kLogInterval with the count; one line when accepting works again. `on_exhausted` is
//     called for each such failure (the daemon's metric);
//   - any other error: the same pause (an unknown error must not spin either), logged as such.
//
// Thread: one loop's executor (not thread-safe).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace ambit {

namespace asio = boost::asio;

class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kMinDelay{100};
  static constexpr std::chrono::milliseconds kMaxDelay{1000};
  static constexpr std::chrono::seconds kLogInterval{10};
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `listener` names the listener in log lines ("pod default/a outbound 127.0.0.1:15001").
  explicit AcceptBackoff(std::string listener, std::function<void()> on_exhausted = {},
                         Clock clock = &std::chrono::steady_clock::now);

  // After a failed accept(): how long to wait before the next one (zero: at once).
  std::chrono::milliseconds failed(const boost::system::error_code& ec);
  // After a successful accept(): the next failure starts from kMinDelay again.
  void succeeded();

  // accept() calls that failed, of any kind / for lack of resources (since construction).
  uint64_t failures() const { return failures_; }
  uint64_t exhaustedFailures() const { return exhausted_; }

  static bool isResourceExhaustion(const boost::system::error_code& ec);
  static bool isConnectionError(const boost::system::error_code& ec);

 private:
  void logPause(const boost::system::error_code& ec, std::chrono::milliseconds delay);

  std::string listener_;
  std::function<void()> on_exhausted_;
  Clock clock_;
  uint64_t failures_ = 0;
  uint64_t exhausted_ = 0;
  std::chrono::milliseconds delay_{0};  // of the current run of failures; 0: none
  uint64_t failures_in_run_ = 0;
  uint64_t unlogged_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
};

using AcceptHandler = std::function<void(asio::ip::tcp::socket)>;

// Accepts on `acceptor` until it is closed (or the accept is cancelled), handing each accepted
// socket to `on_accept` and pausing after failures as `backoff` says. All three are references
// that must outlive the coroutine: keep them as locals of the coroutine that awaits this one.
// (Not a by-value std::function: GCC 12 destroys such a parameter, built from a lambda
// temporary, twice when the suspended coroutine is destroyed with its io_context.)
asio::awaitable<void> acceptUntilClosed(asio::ip::tcp::acceptor& acceptor, AcceptBackoff& backoff,
                                        const AcceptHandler& on_accept);

}  // namespace ambit
