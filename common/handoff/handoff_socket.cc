#include "common/handoff/handoff_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <array>
#include <cstring>
#include <filesystem>

namespace ambit::handoff {

namespace {

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return makeError("hand-off socket path '{}' is empty or longer than {} bytes", path,
                     sizeof(addr.sun_path) - 1);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Status waitReadable(int sock, std::chrono::milliseconds timeout) {
  pollfd p{sock, POLLIN, 0};
  int timeout_ms = timeout.count() < 0 ? -1 : static_cast<int>(timeout.count());
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return Status::ok();
    if (n == 0)
      return Error{ETIMEDOUT, fmt::format("hand-off: no message within {}ms", timeout.count())};
    if (errno != EINTR) return errnoError("hand-off poll");
  }
}

// Receives one packet and an optional SCM_RIGHTS fd.
Result<std::string> receivePacket(int sock, UniqueFd* fd_out) {
  std::string buf(kMaxPacketBytes, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return errnoError("hand-off recvmsg");
  // Take ownership of every passed fd first, so none leaks whatever happens next.
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  if (n == 0) return Error{EPIPE, "hand-off peer closed the connection"};
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    return makeError("hand-off packet truncated (limit {} bytes, 4 fds)", kMaxPacketBytes);
  }
  if (fds.size() > 1)
    return makeError("hand-off packet carried {} fds, expected at most 1", fds.size());
  if (!fds.empty() && fd_out) *fd_out = std::move(fds.front());
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

Status sendPacket(int sock, const std::string& bytes, int fd_to_pass) {
  if (bytes.size() > kMaxPacketBytes) {
    return makeError("hand-off message of {} bytes exceeds {}", bytes.size(), kMaxPacketBytes);
  }
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd_to_pass >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return Status::ok();
    if (errno != EINTR) return errnoError("hand-off sendmsg");
  }
}

}  // namespace

Result<UniqueFd> listenSocket(const std::string& path) {
  auto addr = unixAddress(path);
  if (!addr) return addr.error();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return makeError("create directory for {}: {}", path, ec.message());
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return errnoError("hand-off socket");
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0) {
    return errnoError(fmt::format("bind hand-off socket {}", path));
  }
  ::chmod(path.c_str(), 0600);
  if (::listen(fd.get(), 16) != 0) return errnoError(fmt::format("listen on {}", path));
  return fd;
}

Result<UniqueFd> connectSocket(const std::string& path) {
  auto addr = unixAddress(path);
  if (!addr) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return errnoError("hand-off socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0) {
    return errnoError(fmt::format("connect to hand-off socket {}", path));
  }
  return fd;
}

Status sendMessage(int sock, const v1::HandoffMessage& msg, int fd_to_pass) {
  std::string bytes;
  if (!msg.SerializeToString(&bytes)) return makeError("hand-off: cannot serialize message");
  return sendPacket(sock, bytes, fd_to_pass);
}

Result<Received> receiveMessage(int sock, std::chrono::milliseconds timeout) {
  AMBIT_TRY(waitReadable(sock, timeout));
  Received r;
  auto bytes = receivePacket(sock, &r.fd);
  if (!bytes) return bytes.error();
  if (!r.message.ParseFromString(*bytes)) {
    return makeError("hand-off: {} byte packet is not a HandoffMessage", bytes->size());
  }
  return r;
}

Status sendAck(int sock, const v1::HandoffAck& ack) {
  std::string bytes;
  if (!ack.SerializeToString(&bytes)) return makeError("hand-off: cannot serialize ack");
  return sendPacket(sock, bytes, -1);
}

Result<v1::HandoffAck> receiveAck(int sock, std::chrono::milliseconds timeout) {
  AMBIT_TRY(waitReadable(sock, timeout));
  auto bytes = receivePacket(sock, nullptr);
  if (!bytes) return bytes.error();
  v1::HandoffAck ack;
  if (!ack.ParseFromString(*bytes)) {
    return makeError("hand-off: {} byte packet is not a HandoffAck", bytes->size());
  }
  return ack;
}

}  // namespace ambit::handoff
