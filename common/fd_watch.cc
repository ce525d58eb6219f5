#include "common/fd_watch.h"

#include <fcntl.h>
#include <unistd.h>

namespace ambit {

struct FdWatch::State : std::enable_shared_from_this<FdWatch::State> {
  State(boost::asio::io_context& io, int fd, std::function<bool()> cb)
      : descriptor(io, fd), on_readable(std::move(cb)) {}

  void arm() {
    descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            if (ec || self->cancelled) return;
                            if (self->on_readable()) self->arm();
                          });
  }

  boost::asio::posix::stream_descriptor descriptor;
  std::function<bool()> on_readable;
  bool cancelled = false;
};

Result<std::unique_ptr<FdWatch>> FdWatch::start(boost::asio::io_context& io, int fd,
                                                std::function<bool()> on_readable) {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errnoError("dup fd for event loop watch");
  auto state = std::make_shared<State>(io, dup, std::move(on_readable));
  state->arm();
  return std::unique_ptr<FdWatch>(new FdWatch(std::move(state)));
}

FdWatch::~FdWatch() {
  state_->cancelled = true;
  boost::system::error_code ignored;
  state_->descriptor.cancel(ignored);
}

}  // namespace ambit
