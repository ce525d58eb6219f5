#include "common/async/signal.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ambit {

asio::awaitable<void> Signal::wait() {
  boost::system::error_code ec;  // the timer never expires: cancellation is the wake-up
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace ambit
