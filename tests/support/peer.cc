#include "tests/support/peer.h"

#include <future>

namespace ambit::test {

CommandOutput runPeer(boost::asio::io_context& ioc, const std::string& script,
                      std::chrono::milliseconds timeout) {
  auto peer = std::async(std::launch::async,
                         [script, timeout] { return sh(script, timeout, /*merge_stderr=*/true); });
  while (peer.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(std::chrono::milliseconds(20));
  }
  return peer.get();
}

}  // namespace ambit::test
