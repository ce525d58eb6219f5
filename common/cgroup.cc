#include "common/cgroup.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ambit {

Result<std::string> findCgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return errnoError("open /proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // Fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mountpoint;
    head >> id >> parent >> devno >> root >> mountpoint;
    return mountpoint;
  }
  return makeError("no cgroup2 filesystem is mounted (see /proc/self/mountinfo)");
}

Result<std::string> ensureCgroup2Mount(const std::string& fallback) {
  auto found = findCgroup2Mount();
  if (found) return found;
  std::error_code ec;
  std::filesystem::create_directories(fallback, ec);
  if (ec) return makeError("create {}: {}", fallback, ec.message());
  if (::mount("cgroup2", fallback.c_str(), "cgroup2", 0, nullptr) != 0) {
    return errnoError(fmt::format("mount cgroup2 at {}", fallback));
  }
  return fallback;
}

}  // namespace ambit
