#include "ztunnel/connection_tracker.h"

#include <sys/socket.h>

namespace ambit::ztunnel {

uint64_t ConnectionTracker::add(TrackedConnection c) {
  struct stat st {};
  if (c.fd >= 0 && ::fstat(c.fd, &st) == 0) c.inode = st.st_ino;
  uint64_t id = next_id_++;
  open_.emplace(id, std::move(c));
  return id;
}

std::string ConnectionTracker::remove(uint64_t id) {
  open_.erase(id);
  auto it = revoked_.find(id);
  if (it == revoked_.end()) return {};
  std::string why = std::move(it->second);
  revoked_.erase(it);
  return why;
}

size_t ConnectionTracker::closeIf(
    const std::function<std::string(const TrackedConnection&)>& deny) {
  size_t closed = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    struct stat st {};
    bool same =
        it->second.fd >= 0 && ::fstat(it->second.fd, &st) == 0 && st.st_ino == it->second.inode;
    if (!same) {
      it = open_.erase(it);  // already gone
      continue;
    }
    if (std::string why = deny(it->second); !why.empty()) {
      ::shutdown(it->second.fd, SHUT_RDWR);
      revoked_[it->first] = std::move(why);
      ++closed;
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  return closed;
}

}  // namespace ambit::ztunnel
