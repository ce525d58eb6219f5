#pragma once
// The persisted mesh snapshot of a DiscoverySource: what an agent restarted while the control
// plane is down resumes from. One file, replaced atomically (temp file, fsync, rename, fsync of
// the directory), so a crash leaves the old or the new snapshot, never a torn one. The format
// is a one-line header "ambit-mesh-snapshot v1 <written unix ms> <fnv64 hex> <length>" and
// the serialized v1::MeshSnapshot; a file that does not match (truncated, edited, another
// format) is refused with a message saying what is wrong.

#include <chrono>
#include <filesystem>

#include "ambit/v1/mesh.pb.h"
#include "common/status.h"

namespace ambit::discovery {

struct PersistedSnapshot {
  v1::MeshSnapshot snapshot;
  std::chrono::system_clock::time_point written_at;
};

[[nodiscard]] Status writeSnapshotFile(
    const std::filesystem::path& file, const v1::MeshSnapshot& snapshot,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Fails with ENOENT when the file does not exist, with another message when it is corrupt.
[[nodiscard]] Result<PersistedSnapshot> readSnapshotFile(const std::filesystem::path& file);

}  // namespace ambit::discovery
