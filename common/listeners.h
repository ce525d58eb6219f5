#pragma once
// The TCP listening sockets of a network namespace, as the kernel's sock_diag interface reports
// them. Used for hand-overs between two processes that listen on one address with SO_REUSEPORT
// while an upgrade runs them side by side: a process tells its own listener from the other's by
// the socket's inode, and so learns whether a successor is listening yet.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace ambit {

// The inode of the socket `fd` (what sock_diag reports as the socket's idiag_inode).
Result<uint64_t> socketInode(int fd);

// Inodes of the TCP sockets in LISTEN state bound to exactly `endpoint` (same address, same
// port; the wildcard address matches only a wildcard listener) in the calling thread's network
// namespace. Ask inside a pod's netns with inNetns().
Result<std::vector<uint64_t>> tcpListeners(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace ambit
