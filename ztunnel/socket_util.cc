#include "ztunnel/socket_util.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "ambit/abi.h"
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
  return fd;
}

}  // namespace

Result<UniqueFd> podSocket(int netns_fd, int family) {
  if (netns_fd < 0) return markedSocket(family);
  return inNetns(netns_fd, [&] { return markedSocket(family); });
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

}  // namespace ambit::ztunnel
