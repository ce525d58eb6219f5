#pragma once
// Bridges a pollable fd (inotify/epoll/timerfd sets such as ConfigWatcher::pollFd()) into a
// Boost.Asio io_context: `on_readable` runs on the context's thread each time the fd becomes
// readable, until the FdWatch is destroyed or the callback returns false.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>

#include "common/status.h"

namespace ambit {

class FdWatch {
 public:
  // Watches a dup of `fd`; the caller keeps ownership of `fd`.
  static Result<std::unique_ptr<FdWatch>> start(boost::asio::io_context& io, int fd,
                                                std::function<bool()> on_readable);
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

 private:
  struct State;
  explicit FdWatch(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace ambit
