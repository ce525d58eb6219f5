#include "common/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/log.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace ambit {

Result<UniqueFd> openNetns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errnoError(fmt::format("open netns {}", path));
  return fd;
}

Result<uint64_t> netnsCookie(int netns_fd) {
  return inNetns(netns_fd, []() -> Result<uint64_t> {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return errnoError("socket for netns cookie");
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (::getsockopt(s.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
      return errnoError("getsockopt SO_NETNS_COOKIE");
    }
    return cookie;
  });
}

namespace {

std::string& sysctlProcFallback() {
  static std::string root;
  return root;
}

}  // namespace

void setSysctlProcFallback(std::string proc_root) { sysctlProcFallback() = std::move(proc_root); }

Status writeSysctl(std::string_view key, std::string_view value) {
  std::string path = fmt::format("/proc/sys/{}", key);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd && errno == EROFS && !sysctlProcFallback().empty()) {
    // /proc/sys/net resolves against the opening thread's netns through any procfs mount.
    path = fmt::format("{}/sys/{}", sysctlProcFallback(), key);
    fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  }
  if (!fd) return errnoError(fmt::format("set sysctl {}={}: open {}", key, value, path));
  if (::write(fd.get(), value.data(), value.size()) < 0) {
    return errnoError(fmt::format("set sysctl {}={}: write {}", key, value, path));
  }
  return Status::ok();
}

Status writeSysctlInNetns(int netns_fd, std::string_view key, std::string_view value) {
  return inNetns(netns_fd, [&]() { return writeSysctl(key, value); });
}

Result<std::string> readSysctl(std::string_view key) {
  std::string path = fmt::format("/proc/sys/{}", key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errnoError(fmt::format("read sysctl {}: open {}", key, path));
  std::string value(128, '\0');
  ssize_t n = ::read(fd.get(), value.data(), value.size());
  if (n < 0) return errnoError(fmt::format("read sysctl {}: read {}", key, path));
  value.resize(static_cast<size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

NetnsGuard::NetnsGuard(int target_netns_fd) {
  original_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original_) {
    status_ = errnoError("open /proc/thread-self/ns/net");
    return;
  }
  if (::setns(target_netns_fd, CLONE_NEWNET) != 0) {
    status_ = errnoError("setns into target netns");
    original_.reset();
  }
}

NetnsGuard::~NetnsGuard() {
  if (!original_) return;
  if (::setns(original_.get(), CLONE_NEWNET) != 0) {
    // A thread stuck in a pod's namespace would send traffic from the wrong place: an
    // invariant the process cannot recover from.
    logCritical("cannot return to original netns: {}", std::strerror(errno));
    std::abort();
  }
}

}  // namespace ambit
