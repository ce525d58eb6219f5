#pragma once
// Copies bytes both ways between two TCP sockets until both directions are closed (EOF is
// passed on as a half-close; an error on either side closes both). Used for passthrough
// (destinations outside the mesh) and inbound plaintext.
//
// Like the HBONE splice (hbone::HboneStream::splice), it runs as callbacks with no coroutine:
// an idle direction is one pending readiness wait and no buffer. Bytes are read into a
// per-thread scratch buffer and written at once; only what the destination did not take is
// kept (on the heap, until it has been written), and that direction stops reading meanwhile,
// so a slow reader throttles the sender.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>

#include "common/status.h"

namespace ambit::ztunnel {

struct TcpSpliceResult {
  uint64_t a_to_b = 0;
  uint64_t b_to_a = 0;
  Status status;  // the first error; ok when both directions ended with EOF
};

// Takes both sockets (on the same single-threaded executor) and calls `done` there once both
// directions ended (at once, inside this call, when both fail straight away). If the executor
// is destroyed first, the splice is destroyed with it and `done` is not called. Each direction
// yields to other work after 16 reads in a row.
void spliceTcp(boost::asio::ip::tcp::socket a, boost::asio::ip::tcp::socket b,
               std::function<void(const TcpSpliceResult&)> done);

}  // namespace ambit::ztunnel
