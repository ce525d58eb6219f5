#include "common/unix_socket.h"

#include <sys/stat.h>
#include <unistd.h>

namespace ambit {

Status prepareUnixSocketPath(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return makeError("create {}: {}", path.parent_path().string(), ec.message());
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::ok();
    return errnoError(fmt::format("stat {}", path.string()));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return makeError("{} exists and is not a socket; refusing to replace it", path.string());
  }
  if (::unlink(path.c_str()) != 0) return errnoError(fmt::format("remove stale {}", path.string()));
  return Status::ok();
}

}  // namespace ambit
