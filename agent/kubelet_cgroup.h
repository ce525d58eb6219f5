#pragma once
// Where the kubelet puts a pod's cgroup (cgroup v2), so the agent can find the pod's processes
// (and from them its network namespace) with no CNI plugin and no container runtime API.
//
// The kubelet names a pod's cgroup from its QoS class and metadata.uid (pkg/kubelet/cm):
//   abstract name        {kubepods, pod<uid>}                Guaranteed
//                        {kubepods, burstable, pod<uid>}     Burstable
//                        {kubepods, besteffort, pod<uid>}    BestEffort
//   cgroupfs driver      kubepods/burstable/pod<uid>         (components joined by '/')
//   systemd driver       kubepods.slice/kubepods-burstable.slice/
//                          kubepods-burstable-pod<uid with '-' -> '_'>.slice
//                        (each component's '-' becomes '_', components are joined by '-', and
//                        every prefix is a parent slice)
// all below the kubelet's --cgroup-root ("/" by default) in the cgroup2 hierarchy. The kubelet
// creates the directory shortly after the pod is scheduled, before any container runs.
//
// Thread: any (no state changes after create()); reads the filesystem on every call.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::agent {

enum class CgroupDriver { kAuto, kCgroupfs, kSystemd };
enum class QosClass { kUnknown, kGuaranteed, kBurstable, kBestEffort };

// "cgroupfs" | "systemd" | "auto".
Result<CgroupDriver> parseCgroupDriver(std::string_view text);
// status.qosClass: "Guaranteed" | "Burstable" | "BestEffort"; "" (not set yet) is kUnknown.
Result<QosClass> parseQosClass(std::string_view text);
std::string_view toString(QosClass qos);

// The pod cgroup's path relative to the kubelet root, e.g. "kubepods/besteffort/pod<uid>".
// `driver` must not be kAuto and `qos` not kUnknown. Fails on a uid that is not a Kubernetes
// UID (characters other than [0-9A-Za-z-], empty, or longer than 64).
Result<std::string> podCgroupPath(CgroupDriver driver, QosClass qos, std::string_view uid);

// Finds pod cgroups on this host. An interface so the netns resolution can be tested with fakes.
class PodCgroupLocator {
 public:
  virtual ~PodCgroupLocator() = default;
  // The absolute path of the pod's cgroup directory; nullopt when it does not exist (yet).
  // kUnknown QoS tries the three classes.
  virtual Result<std::optional<std::string>> locate(std::string_view uid, QosClass qos) const = 0;
};

struct KubeletCgroupOptions {
  // Where cgroup2 is mounted; empty: found in /proc/self/mountinfo.
  std::string cgroup2_mount;
  // The kubelet's --cgroup-root, as a path in the cgroup2 hierarchy ("/" = its root).
  std::string kubelet_root = "/";
  // kAuto: whichever of kubepods.slice (systemd) and kubepods (cgroupfs) exists below the root;
  // when both do, both are searched.
  CgroupDriver driver = CgroupDriver::kAuto;
};

class KubeletCgroups final : public PodCgroupLocator {
 public:
  // Resolves the mount and checks the root is a cgroup v2 directory.
  static Result<KubeletCgroups> create(KubeletCgroupOptions options);

  Result<std::optional<std::string>> locate(std::string_view uid, QosClass qos) const override;

  // Absolute directory of the kubelet root (<mount>/<kubelet_root>).
  const std::string& root() const { return root_; }
  // The drivers searched now (kAuto re-detects on every call: the kubelet may start later).
  std::vector<CgroupDriver> drivers() const;
  // The existing directories the kubelet creates pod cgroups in (the kubepods and QoS-class
  // cgroups of the drivers found), preceded by the root itself (where those appear first).
  std::vector<std::string> podParentDirs() const;

 private:
  KubeletCgroups(std::string root, CgroupDriver driver) : root_(std::move(root)), driver_(driver) {}

  std::string root_;
  CgroupDriver driver_;
};

}  // namespace ambit::agent
