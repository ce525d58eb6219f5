#pragma once
// Running work on the ztunnel's data thread from another thread (the hand-off and admin
// threads): the data thread owns every pod, listener and connection, so other threads never
// touch them directly.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>

#include "common/status.h"

namespace ambit::ztunnel {

inline constexpr auto kDataThreadTimeout = std::chrono::seconds(10);

// Runs fn on io's thread and waits for its result, which must be a Status or Result<T>; an
// error if the data thread does not answer within kDataThreadTimeout. Never call it from the
// data thread itself (it would wait for itself).
template <typename Fn>
auto runOnDataThread(boost::asio::io_context& io, Fn&& fn) -> decltype(fn()) {
  using R = decltype(fn());
  auto task = std::make_shared<std::packaged_task<R()>>(std::forward<Fn>(fn));
  auto fut = task->get_future();
  boost::asio::post(io, [task] { (*task)(); });
  if (fut.wait_for(kDataThreadTimeout) != std::future_status::ready) {
    return makeError("data thread did not answer within {}s", kDataThreadTimeout.count());
  }
  return fut.get();
}

}  // namespace ambit::ztunnel
