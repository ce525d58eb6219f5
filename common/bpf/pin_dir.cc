#include "common/bpf/pin_dir.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <filesystem>

namespace ambit::bpf {
namespace fs = std::filesystem;

namespace {

Result<bool> isBpffs(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return errnoError(fmt::format("statfs {}", path));
  }
  return st.f_type == static_cast<decltype(st.f_type)>(BPF_FS_MAGIC);
}

}  // namespace

Status ensureBpffs(const std::string& mount_point) {
  auto is = isBpffs(mount_point);
  AMBIT_TRY(is);
  if (*is) return Status::ok();
  std::error_code ec;
  fs::create_directories(mount_point, ec);
  if (ec) return Error{ec.value(), fmt::format("create {}: {}", mount_point, ec.message())};
  if (::mount("bpf", mount_point.c_str(), "bpf", 0, "mode=0700") != 0) {
    return errnoError(fmt::format("mount bpffs at {}", mount_point));
  }
  return Status::ok();
}

Status ensureBpffsDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{ec.value(), fmt::format("create pin dir {}: {}", dir, ec.message())};
  auto is = isBpffs(dir);
  AMBIT_TRY(is);
  if (!*is)
    return makeError("pin dir {} is not on a bpffs (mount one at {})", dir, AMBIT_BPFFS_MOUNT);
  return Status::ok();
}

Result<std::vector<std::string>> listDir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    return Error{ec.value(), fmt::format("list {}: {}", dir, ec.message())};
  }
  for (const auto& entry : it) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status validatePodId(const std::string& id) {
  // bpffs refuses names containing '.' (EPERM), so ids are limited to [A-Za-z0-9_-].
  bool ok = !id.empty() && id.size() <= 200;
  for (char c : id) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
    ok = ok && allowed;
  }
  if (!ok) return makeError("invalid pod id '{}': want 1..200 chars of [A-Za-z0-9_-]", id);
  return Status::ok();
}

uint64_t podTag(const std::string& id) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace ambit::bpf
