#include "common/async/accept_loop.h"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "common/log.h"

namespace ambit {

namespace {

std::string fdLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "unknown";
  return std::to_string(limit.rlim_cur);
}

}  // namespace

AcceptBackoff::AcceptBackoff(std::string listener, std::function<void()> on_exhausted, Clock clock)
    : listener_(std::move(listener)),
      on_exhausted_(std::move(on_exhausted)),
      clock_(std::move(clock)) {}

bool AcceptBackoff::isResourceExhaustion(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

bool AcceptBackoff::isConnectionError(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_aborted) return true;
  if (ec.category() != boost::system::system_category()) return false;
  // accept(2): Linux passes errors already pending on the new connection to accept().
  switch (ec.value()) {
    case ECONNABORTED:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ENETDOWN:
    case EPERM:  // a firewall rule refused the connection
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds AcceptBackoff::failed(const boost::system::error_code& ec) {
  ++failures_;
  if (isConnectionError(ec)) {
    logDebug("{}: accept: {} (that connection only)", listener_, ec.message());
    return std::chrono::milliseconds(0);
  }
  if (isResourceExhaustion(ec)) {
    ++exhausted_;
    if (on_exhausted_) on_exhausted_();
  }
  delay_ = delay_.count() == 0 ? kMinDelay : std::min(delay_ * 2, kMaxDelay);
  ++failures_in_run_;
  logPause(ec, delay_);
  return delay_;
}

void AcceptBackoff::logPause(const boost::system::error_code& ec, std::chrono::milliseconds delay) {
  const auto now = clock_();
  if (failures_in_run_ > 1 && now - last_log_ < kLogInterval) {
    ++unlogged_;
    return;
  }
  std::string suppressed =
      unlogged_ > 0 ? fmt::format(" ({} more failures since the last line)", unlogged_) : "";
  unlogged_ = 0;
  last_log_ = now;
  if (isResourceExhaustion(ec)) {
    logWarn(
        "{}: accept: {}: out of file descriptors or socket memory (RLIMIT_NOFILE {}); pausing "
        "accepts {}ms, pending connections wait in the backlog{}",
        listener_, ec.message(), fdLimit(), delay.count(), suppressed);
  } else {
    logWarn("{}: accept: {}; pausing accepts {}ms{}", listener_, ec.message(), delay.count(),
            suppressed);
  }
}

void AcceptBackoff::succeeded() {
  if (failures_in_run_ > 0) {
    logInfo("{}: accepting again after {} failed accepts", listener_, failures_in_run_);
  }
  failures_in_run_ = 0;
  unlogged_ = 0;
  delay_ = std::chrono::milliseconds(0);
}

asio::awaitable<void> acceptUntilClosed(asio::ip::tcp::acceptor& acceptor, AcceptBackoff& backoff,
                                        const AcceptHandler& on_accept) {
  asio::steady_timer pause(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (!ec) {
      backoff.succeeded();
      on_accept(std::move(socket));
      continue;
    }
    const auto delay = backoff.failed(ec);
    if (delay.count() == 0) continue;
    pause.expires_after(delay);
    auto [waited] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)waited;  // cancelled only with the loop's executor: the acceptor check decides
  }
}

}  // namespace ambit
