#include "agent/kubelet_cgroup.h"

#include <algorithm>
#include <filesystem>

#include "common/cgroup.h"

namespace ambit::agent {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxUidLength = 64;  // a UUID is 36

bool isUidChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// The abstract name's components below the kubelet root: {kubepods, [qos], pod<uid>}.
std::vector<std::string> components(QosClass qos, std::string_view uid) {
  std::vector<std::string> parts = {"kubepods"};
  if (qos == QosClass::kBurstable) parts.emplace_back("burstable");
  if (qos == QosClass::kBestEffort) parts.emplace_back("besteffort");
  parts.push_back("pod" + std::string(uid));
  return parts;
}

// systemd: each prefix of the components is a slice named by the prefix joined with '-'.
std::string systemdPath(const std::vector<std::string>& parts) {
  std::string path, prefix;
  for (std::string part : parts) {
    std::replace(part.begin(), part.end(), '-', '_');
    prefix = prefix.empty() ? part : prefix + "-" + part;
    if (!path.empty()) path += "/";
    path += prefix + ".slice";
  }
  return path;
}

bool isDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

}  // namespace

Result<CgroupDriver> parseCgroupDriver(std::string_view text) {
  if (text == "auto" || text.empty()) return CgroupDriver::kAuto;
  if (text == "cgroupfs") return CgroupDriver::kCgroupfs;
  if (text == "systemd") return CgroupDriver::kSystemd;
  return makeError("cgroup driver '{}': expected cgroupfs, systemd or auto", text);
}

Result<QosClass> parseQosClass(std::string_view text) {
  if (text.empty()) return QosClass::kUnknown;
  if (text == "Guaranteed") return QosClass::kGuaranteed;
  if (text == "Burstable") return QosClass::kBurstable;
  if (text == "BestEffort") return QosClass::kBestEffort;
  return makeError("qosClass '{}': expected Guaranteed, Burstable or BestEffort", text);
}

std::string_view toString(QosClass qos) {
  switch (qos) {
    case QosClass::kGuaranteed:
      return "Guaranteed";
    case QosClass::kBurstable:
      return "Burstable";
    case QosClass::kBestEffort:
      return "BestEffort";
    case QosClass::kUnknown:
      break;
  }
  return "unknown";
}

Result<std::string> podCgroupPath(CgroupDriver driver, QosClass qos, std::string_view uid) {
  if (uid.empty() || uid.size() > kMaxUidLength ||
      !std::all_of(uid.begin(), uid.end(), isUidChar)) {
    return makeError("pod uid '{}' is not a Kubernetes UID (expected [0-9a-f-], e.g. a UUID)", uid);
  }
  if (qos == QosClass::kUnknown) return makeError("pod {}: QoS class unknown", uid);
  auto parts = components(qos, uid);
  switch (driver) {
    case CgroupDriver::kCgroupfs: {
      std::string path;
      for (const auto& p : parts) path += (path.empty() ? "" : "/") + p;
      return path;
    }
    case CgroupDriver::kSystemd:
      return systemdPath(parts);
    case CgroupDriver::kAuto:
      break;
  }
  return makeError("pod {}: a cgroup driver must be chosen", uid);
}

Result<KubeletCgroups> KubeletCgroups::create(KubeletCgroupOptions options) {
  std::string mount = options.cgroup2_mount;
  if (mount.empty()) {
    auto found = findCgroup2Mount();
    if (!found) return found.error().context("kubelet cgroups");
    mount = *found;
  }
  fs::path rel = fs::path(options.kubelet_root).relative_path().lexically_normal();
  for (const auto& c : rel) {
    if (c == "..") {
      return makeError("--kubelet-cgroup-root '{}': must not leave the cgroup2 hierarchy",
                       options.kubelet_root);
    }
  }
  fs::path root = fs::path(mount) / rel;
  std::string text = root.lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  std::error_code ec;
  if (!fs::exists(fs::path(text) / "cgroup.procs", ec)) {
    return makeError(
        "--kubelet-cgroup-root '{}': {} is not a cgroup v2 directory (no cgroup.procs; cgroup2 "
        "is mounted at {})",
        options.kubelet_root, text, mount);
  }
  return KubeletCgroups(std::move(text), options.driver);
}

std::vector<CgroupDriver> KubeletCgroups::drivers() const {
  if (driver_ != CgroupDriver::kAuto) return {driver_};
  std::vector<CgroupDriver> found;
  if (isDirectory(root_ + "/kubepods.slice")) found.push_back(CgroupDriver::kSystemd);
  if (isDirectory(root_ + "/kubepods")) found.push_back(CgroupDriver::kCgroupfs);
  return found;
}

std::vector<std::string> KubeletCgroups::podParentDirs() const {
  std::vector<std::string> dirs = {root_};
  for (CgroupDriver driver : drivers()) {
    for (QosClass q : {QosClass::kGuaranteed, QosClass::kBurstable, QosClass::kBestEffort}) {
      auto rel = podCgroupPath(driver, q, "0");  // any valid uid: only the parent is used
      if (!rel) continue;
      std::string dir = root_ + "/" + fs::path(*rel).parent_path().string();
      if (isDirectory(dir) && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
        dirs.push_back(dir);
      }
    }
  }
  return dirs;
}

Result<std::optional<std::string>> KubeletCgroups::locate(std::string_view uid,
                                                          QosClass qos) const {
  // Checks the uid even when no layout exists yet.
  if (auto rel = podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kGuaranteed, uid); !rel)
    return rel.error();
  std::vector<QosClass> classes = {qos};
  if (qos == QosClass::kUnknown)
    classes = {QosClass::kGuaranteed, QosClass::kBurstable, QosClass::kBestEffort};
  for (CgroupDriver driver : drivers()) {
    for (QosClass q : classes) {
      auto rel = podCgroupPath(driver, q, uid);
      if (!rel) return rel.error();
      std::string path = root_ + "/" + *rel;
      if (isDirectory(path)) return std::optional<std::string>(path);
    }
  }
  return std::optional<std::string>();
}

}  // namespace ambit::agent
