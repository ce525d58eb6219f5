#include "common/listeners.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/unique_fd.h"

namespace ambit {

Result<uint64_t> socketInode(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError("fstat socket");
  if (!S_ISSOCK(st.st_mode)) return makeError("fd {} is not a socket", fd);
  return static_cast<uint64_t>(st.st_ino);
}

namespace {

bool sameAddress(const inet_diag_msg& m, const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    auto bytes = a.to_v4().to_bytes();
    return std::memcmp(m.id.idiag_src, bytes.data(), bytes.size()) == 0;
  }
  auto bytes = a.to_v6().to_bytes();
  return std::memcmp(m.id.idiag_src, bytes.data(), bytes.size()) == 0;
}

}  // namespace

Result<std::vector<uint64_t>> tcpListeners(const boost::asio::ip::tcp::endpoint& endpoint) {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return errnoError("socket(NETLINK_SOCK_DIAG)");
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } req{};
  req.header.nlmsg_len = sizeof(req);
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.request.sdiag_family = endpoint.address().is_v4() ? AF_INET : AF_INET6;
  req.request.sdiag_protocol = IPPROTO_TCP;
  req.request.idiag_states = 1U << TCP_LISTEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    return errnoError("sock_diag request");
  }
  std::vector<uint64_t> inodes;
  alignas(nlmsghdr) std::array<char, 32768> buf;
  for (;;) {
    ssize_t n = ::recv(nl.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError("sock_diag reply");
    }
    if (n == 0) return makeError("sock_diag: the kernel closed the dump");
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return inodes;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return Error{-e->error, fmt::format("sock_diag: {}", std::strerror(-e->error))};
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(m->id.idiag_sport) == endpoint.port() && sameAddress(*m, endpoint.address())) {
        inodes.push_back(m->idiag_inode);
      }
    }
  }
}

}  // namespace ambit
