#pragma once
// bpffs and the node's pin directory (layout in ambit/abi.h):
//   <root>/maps/<map>   <root>/links/<prog>   <root>/pods/<pod id>/sk_lookup

#include <string>
#include <vector>

#include "ambit/abi.h"
#include "common/status.h"

namespace ambit::bpf {

// Mounts bpffs at `mount_point` unless a bpffs is already mounted there.
Status ensureBpffs(const std::string& mount_point = AMBIT_BPFFS_MOUNT);

// Paths inside one node's pin dir. Pure string building; no I/O.
class PinDir {
 public:
  explicit PinDir(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string maps() const { return root_ + "/" AMBIT_PIN_MAPS_DIR; }
  std::string links() const { return root_ + "/" AMBIT_PIN_LINKS_DIR; }
  std::string link(const std::string& name) const { return links() + "/" + name; }
  std::string pods() const { return root_ + "/" AMBIT_PIN_PODS_DIR; }
  std::string pod(const std::string& id) const { return pods() + "/" + id; }
  std::string podSkLookup(const std::string& id) const {
    return pod(id) + "/" AMBIT_PIN_POD_SK_LOOKUP;
  }

 private:
  std::string root_;
};

// Creates `dir` (and parents) and checks that it lives on bpffs.
Status ensureBpffsDir(const std::string& dir);

// Names in `dir`, sorted; an absent directory is empty.
Result<std::vector<std::string>> listDir(const std::string& dir);

bool pathExists(const std::string& path);

// A pod id usable as a pin dir name: 1..200 chars of [A-Za-z0-9._-], not "." or "..".
Status validatePodId(const std::string& id);

// FNV-1a 64 of the pod id: ambit_pod_config.pod_tag.
uint64_t podTag(const std::string& id);

}  // namespace ambit::bpf
