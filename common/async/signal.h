#pragma once
// Signal: a level-triggered wake-up for coroutines on one executor (not an OS signal).
//
// notify() wakes every coroutine waiting in wait(); a waiter then re-checks the condition it is
// waiting for, so a notify() with nobody waiting is not lost as long as the state it announces
// is visible to the next check:
//
//   while (!ready) co_await signal.wait();   // waiter
//   ready = true; signal.notify();           // notifier
//
// Callback code waits with asyncWait(handler) and re-checks in the handler, the same way.
//
// Thread model: the signal, its waiters and its notifiers live on one single-threaded executor
// (the connection's io_context or strand); nothing here is thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

namespace ambit {

namespace asio = boost::asio;

class Signal {
 public:
  explicit Signal(const asio::any_io_executor& executor)
      : timer_(executor, asio::steady_timer::time_point::max()) {}

  // Wakes every current waiter.
  void notify() { timer_.cancel(); }
  // Completes at the next notify() (or when the signal is destroyed).
  asio::awaitable<void> wait();
  // The same for callback code: `handler(error_code)` runs (through the executor) at the next
  // notify() or when the signal is destroyed; the code is operation_aborted either way.
  template <typename Handler>
  void asyncWait(Handler&& handler) {
    timer_.async_wait(std::forward<Handler>(handler));
  }

 private:
  asio::steady_timer timer_;
};

}  // namespace ambit
