#pragma once
// Third-party peers (curl, h2load, nghttp, python clients) talking to servers that live in the
// test process: the peer runs on another thread while this thread keeps running the test's
// io_context, so the in-process servers answer.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>

#include "tests/support/subprocess.h"

namespace ambit::test {

// /bin/sh -c `script` (stdout and stderr together in `out`, SIGKILL at `timeout`) while `ioc`
// runs handlers on this thread; returns when the peer has exited.
CommandOutput runPeer(boost::asio::io_context& ioc, const std::string& script,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace ambit::test
