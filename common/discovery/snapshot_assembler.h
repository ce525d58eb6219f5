#pragma once
// SnapshotAssembler: the whole MeshSnapshots a DiscoverySource publishes, built from its store
// of received resources without copying the whole mesh for each change.
//
// A snapshot, once published, is never modified while anyone else holds it (source.h). The
// assembler keeps two snapshots. To publish, it takes the one nobody else holds any more (the
// consumer has let go of it after applying a newer one) and patches into it only the resources
// that changed since that copy was last brought up to date: a pod add at 10,000 workloads
// copies one Workload instead of 10,000. When both are still held (a consumer keeps an old
// version), or the change touches most of the mesh or the settings, it builds a fresh one.
//
// Order: a fresh build lists each type in name order; a patched copy appends new resources and
// fills a removed one's place with the last. Consumers index resources by name, never by order.
//
// The version: every node holding the same resources (names and versions) names its snapshot
// the same, whatever order they arrived in: the sum of a stable hash of each resource's type,
// name and version, kept up to date by resourceChanged().
//
// Thread: the DiscoverySource's config thread only.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/mesh_resources.h"
#include "common/discovery/service_membership.h"

namespace ambit::discovery {

// A resource as received, decoded once: alone in a snapshot (config::addResource).
struct HeldResource {
  std::string version;
  v1::MeshSnapshot decoded;
};
using HeldResources = std::array<std::map<std::string, HeldResource>, config::kMeshTypes.size()>;

class SnapshotAssembler {
 public:
  // `store[type][name]` was inserted, replaced (`old_version` is the version it had) or erased
  // (`new_version` empty) since the last build(). Call it for every change, before build().
  void resourceChanged(config::MeshType type, const std::string& name,
                       const std::string& old_version, const std::string& new_version);
  // The snapshot of `store` now (version set), each Service's endpoints filled from
  // `membership` (service_membership.h). The caller publishes it as shared_ptr<const>. A
  // Service whose members changed must have been reported changed (same version in and out).
  std::shared_ptr<v1::MeshSnapshot> build(const HeldResources& store,
                                          const ServiceMembership& membership);

  // For tests and the admin dump: how the last build() was made.
  bool lastWasPatched() const { return last_patched_; }

 private:
  struct Copy {
    std::shared_ptr<v1::MeshSnapshot> snapshot;
    // Per type: resource name -> index in its repeated field, and the inverse.
    std::array<std::unordered_map<std::string, int>, config::kMeshTypes.size()> position;
    std::array<std::vector<std::string>, config::kMeshTypes.size()> names;
    std::set<std::pair<config::MeshType, std::string>> stale;  // changed since brought up to date
    bool settings_stale = false;
  };

  void buildFresh(Copy& copy, const HeldResources& store,
                  const ServiceMembership& membership) const;
  void patch(Copy& copy, const HeldResources& store, const ServiceMembership& membership) const;

  std::array<Copy, 2> copies_;
  size_t resources_ = 0;  // in the store, kept by resourceChanged()
  uint64_t version_sum_ = 0;
  bool last_patched_ = false;
};

}  // namespace ambit::discovery
