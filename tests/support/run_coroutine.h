#pragma once
// runCoroutine: runs a test body coroutine on an io_context until it finishes, at most `limit`;
// a body that does not finish fails the test, and what the body threw is rethrown.

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>

namespace ambit::test {

inline void runCoroutine(boost::asio::io_context& ioc,
                         const std::function<boost::asio::awaitable<void>()>& body,
                         std::chrono::seconds limit = std::chrono::seconds(30)) {
  bool done = false;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, body(), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(done) << "test body did not finish within " << limit.count() << " s";
  if (error) std::rethrow_exception(error);
}

}  // namespace ambit::test
