#pragma once
// spawn: starts a detached coroutine whose failure is logged, not lost.
//
// asio::co_spawn(..., asio::detached) drops whatever the coroutine throws: the work silently
// stops and nobody learns why. Every detached coroutine in ambit goes through spawn() instead;
// an escaped exception is logged as an error naming `what` ("HBONE handshake", "JWKS refresh")
// and the process keeps running (the exception ended only that coroutine).
//
//   ambit::spawn(executor, session->run(), "HTTP/2 connection");
//   ambit::spawn(executor, [self] { return self->loop(); }, "idle timer");
//
// `work` is an asio::awaitable<void>, or a callable returning one (its captures then live as
// long as the coroutine). `what` must be a string with static storage (a literal).
//
// A task the daemon depends on (its drain, a watch that feeds it) must not just vanish: the
// overload with `on_exit` calls it once the coroutine has ended, with `failed` true when it
// threw (after the log line), so the owner can finish what the task would have (stop the
// loop, count down a drain) or enter a failure state:
//
//   ambit::spawn(io, drain(), "waypoint drain", [&io](bool) { io.stop(); });

#include <boost/asio/co_spawn.hpp>
#include <exception>
#include <functional>
#include <utility>

namespace ambit {

namespace asio = boost::asio;

namespace detail {

// The completion handler of a spawned coroutine: logs an escaped exception, then runs on_exit.
struct LogSpawnFailure {
  const char* what;
  std::function<void(bool failed)> on_exit;  // may be empty
  void operator()(std::exception_ptr error) const;
};

}  // namespace detail

// `where` is an executor or an execution context (io_context).
template <typename ExecutorOrContext, typename Work>
void spawn(ExecutorOrContext&& where, Work&& work, const char* what) {
  asio::co_spawn(std::forward<ExecutorOrContext>(where), std::forward<Work>(work),
                 detail::LogSpawnFailure{what, {}});
}

template <typename ExecutorOrContext, typename Work>
void spawn(ExecutorOrContext&& where, Work&& work, const char* what,
           std::function<void(bool failed)> on_exit) {
  asio::co_spawn(std::forward<ExecutorOrContext>(where), std::forward<Work>(work),
                 detail::LogSpawnFailure{what, std::move(on_exit)});
}

}  // namespace ambit
