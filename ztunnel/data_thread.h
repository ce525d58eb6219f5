#pragma once
// Running work on the ztunnel's data thread from another thread (the hand-off and admin
// threads): the data thread owns every pod, listener and connection, so other threads never
// touch them directly.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "common/status.h"

namespace ambit::ztunnel {

inline constexpr std::chrono::milliseconds kDataThreadTimeout = std::chrono::seconds(10);
inline constexpr std::chrono::milliseconds kDataThreadStopPoll{50};

// Runs fn on io's thread and waits for its result, which must be a Status or Result<T>. Never
// call it from the data thread itself (it would wait for itself).
//
// fn may capture the caller's stack by reference: it runs only while the caller waits. When
// the data thread has not *started* fn within `start_timeout` (stopped, or stuck), the call is
// abandoned with an error and fn never runs (the queued task keeps only shared state, not the
// caller's frame). Once fn has started, the caller waits for it to finish, however long.
template <typename Fn>
auto runOnDataThread(boost::asio::io_context& io, Fn&& fn,
                     std::chrono::milliseconds start_timeout = kDataThreadTimeout)
    -> decltype(fn()) {
  using R = decltype(fn());
  enum class Phase { kQueued, kRunning, kDone, kAbandoned };
  struct Call {
    std::mutex mutex;
    std::condition_variable changed;
    Phase phase = Phase::kQueued;
    std::optional<R> result;
  };
  auto call = std::make_shared<Call>();
  // The task holds fn by pointer into this frame: it dereferences it only in kRunning, and the
  // caller leaves this frame only in kQueued->kAbandoned (fn never runs) or after kDone.
  auto* work = &fn;
  boost::asio::post(io, [call, work] {
    {
      std::lock_guard lock(call->mutex);
      if (call->phase == Phase::kAbandoned) return;
      call->phase = Phase::kRunning;
    }
    R r = (*work)();
    std::lock_guard lock(call->mutex);
    call->result.emplace(std::move(r));
    call->phase = Phase::kDone;
    call->changed.notify_all();
  });
  // Waits in slices so that a data loop that has stopped for good (the ztunnel's drain ended
  // while a hand-off call was queued) abandons the call at once rather than at the timeout.
  const auto deadline = std::chrono::steady_clock::now() + start_timeout;
  std::unique_lock lock(call->mutex);
  while (call->phase == Phase::kQueued) {
    if (io.stopped()) {
      call->phase = Phase::kAbandoned;
      return makeError("the data thread has stopped");
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      call->phase = Phase::kAbandoned;
      return makeError("data thread did not take the call within {}ms", start_timeout.count());
    }
    call->changed.wait_until(lock, std::min(deadline, now + kDataThreadStopPoll));
  }
  call->changed.wait(lock, [&] { return call->phase == Phase::kDone; });
  return std::move(*call->result);
}

}  // namespace ambit::ztunnel
