#include "common/bpf/capture_client.h"

#include <sys/socket.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace ambit::bpf {

Result<uint64_t> socketNetnsCookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return errnoError(fmt::format("getsockopt SO_NETNS_COOKIE on fd {}", fd));
  }
  return cookie;
}

Result<std::optional<SockAddr>> lookupOriginalDst(const OrigDstMap& map, int accepted_fd) {
  auto cookie = socketNetnsCookie(accepted_fd);
  AMBIT_TRY(cookie);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(accepted_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return errnoError(fmt::format("getpeername on fd {}", accepted_fd));
  }
  auto peer = SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  AMBIT_TRY(peer);
  return map.lookup(*cookie, *peer);
}

Result<CaptureClient> CaptureClient::open(const std::string& pin_dir) {
  auto orig = MapHandle::openPinned(pin_dir, AMBIT_MAP_ORIG_DST, /*read_only=*/true);
  AMBIT_TRY(orig);
  auto lsn = MapHandle::openPinned(pin_dir, AMBIT_MAP_IN_LISTENERS);
  AMBIT_TRY(lsn);
  auto pending = MapHandle::openPinned(pin_dir, AMBIT_MAP_IN_PENDING);
  AMBIT_TRY(pending);
  return CaptureClient(OrigDstMap(std::move(*orig)), InboundListenerMap(std::move(*lsn)),
                       InboundPendingMap(std::move(*pending)));
}

Result<std::optional<SockAddr>> CaptureClient::lookupOriginalDst(int accepted_fd) const {
  return bpf::lookupOriginalDst(orig_dst_, accepted_fd);
}

Status CaptureClient::registerInboundListener(const IpAddr& pod_ip, int listener_fd) const {
  return listeners_.put(pod_ip, listener_fd);
}

Status CaptureClient::unregisterInboundListener(const IpAddr& pod_ip) const {
  return listeners_.remove(pod_ip);
}

}  // namespace ambit::bpf
