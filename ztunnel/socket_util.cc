#include "ztunnel/socket_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ambit/abi.h"
#include "common/listeners.h"
#include "common/log.h"
#include "common/netns.h"

namespace ambit::ztunnel {

namespace {

Result<UniqueFd> markedSocket(int family) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errnoError("socket");
  int mark = AMBIT_SOCKET_MARK;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    return errnoError("setsockopt SO_MARK");
  }
  // A proxy must not add Nagle delays: a response split over two writes otherwise waits for
  // the peer's delayed ACK (~40 ms p99 at 1,000 req/s in tests/bench). Accepted sockets inherit
  // it from the listener.
  int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
    return errnoError("setsockopt TCP_NODELAY");
  }
  return fd;
}

// The handle of the calling thread's own netns, opened on the thread's first podSocket() (data
// threads only ever leave their netns inside podSocket(), so the handle stays right for the
// thread's life). NetnsGuard opens /proc/thread-self/ns/net on every use; per connection that
// open/close was ~7% of the inbound ztunnel's CPU in tests/bench.
int homeNetns() {
  thread_local const UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  return home.get();
}

}  // namespace

Result<UniqueFd> podSocket(int netns_fd, int family) {
  if (netns_fd < 0) return markedSocket(family);
  const int home = homeNetns();
  if (home < 0) return inNetns(netns_fd, [&] { return markedSocket(family); });
  if (::setns(netns_fd, CLONE_NEWNET) != 0) return errnoError("setns into pod netns");
  auto fd = markedSocket(family);
  if (::setns(home, CLONE_NEWNET) != 0) {
    // As NetnsGuard: a data thread stuck in a pod's netns would send from the wrong place.
    logCritical("cannot return to the thread's netns: {}", std::strerror(errno));
    std::abort();
  }
  return fd;
}

Result<UniqueFd> podListener(int netns_fd, const boost::asio::ip::tcp::endpoint& ep, bool v6_only) {
  auto make = [&]() -> Result<UniqueFd> {
    int family = ep.address().is_v6() ? AF_INET6 : AF_INET;
    auto fd = markedSocket(family);
    if (!fd) return fd;
    int one = 1;
    ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return errnoError("setsockopt SO_REUSEPORT");
    }
    if (family == AF_INET6) {
      int only = v6_only ? 1 : 0;
      ::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
    }
    auto* addr = static_cast<const sockaddr*>(ep.data());
    if (::bind(fd->get(), addr, static_cast<socklen_t>(ep.size())) != 0) {
      return errnoError(fmt::format("bind {}:{}", ep.address().to_string(), ep.port()));
    }
    if (::listen(fd->get(), 1024) != 0) {
      return errnoError(fmt::format("listen {}:{}", ep.address().to_string(), ep.port()));
    }
    return fd;
  };
  if (netns_fd < 0) return make();
  return inNetns(netns_fd, make);
}

Result<UniqueFd> NetnsSocketFactory::socket(int netns_fd, int family) {
  return podSocket(netns_fd, family);
}

Result<UniqueFd> NetnsSocketFactory::listener(int netns_fd,
                                              const boost::asio::ip::tcp::endpoint& endpoint,
                                              bool v6_only) {
  return podListener(netns_fd, endpoint, v6_only);
}

Status NetnsSocketFactory::enableListenerMigration(int netns_fd) {
  constexpr std::string_view kKey = "net/ipv4/tcp_migrate_req";
  auto enable = [&]() -> Status {
    Status written = writeSysctl(kKey, "1");
    if (written) return written;
    // Read-only /proc/sys (an unprivileged container): the agent sets it when it enrolls a pod.
    auto value = readSysctl(kKey);
    if (value && *value == "1") return Status::ok();
    return written;
  };
  Status st = netns_fd < 0 ? enable() : inNetns(netns_fd, enable);
  if (!st) return st.error().context("enable connection migration (tcp_migrate_req)");
  return Status::ok();
}

Result<std::vector<uint64_t>> NetnsSocketFactory::listeners(
    int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint) {
  if (netns_fd < 0) return tcpListeners(endpoint);
  return inNetns(netns_fd, [&] { return tcpListeners(endpoint); });
}

}  // namespace ambit::ztunnel
