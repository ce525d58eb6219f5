#include "common/discovery/snapshot_assembler.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include <atomic>

#include "common/discovery/resource_store.h"

namespace ambit::discovery {
namespace {

size_t indexOf(config::MeshType type) { return static_cast<size_t>(type); }

// The repeated field of MeshSnapshot that holds `type` (null for kSettings).
const google::protobuf::FieldDescriptor* fieldOf(config::MeshType type) {
  static const auto kFields = [] {
    std::array<const google::protobuf::FieldDescriptor*, config::kMeshTypes.size()> fields{};
    const auto* d = v1::MeshSnapshot::descriptor();
    auto set = [&](config::MeshType t, int number) {
      fields[indexOf(t)] = d->FindFieldByNumber(number);
    };
    set(config::MeshType::kNamespace, v1::MeshSnapshot::kNamespacesFieldNumber);
    set(config::MeshType::kWorkload, v1::MeshSnapshot::kWorkloadsFieldNumber);
    set(config::MeshType::kService, v1::MeshSnapshot::kServicesFieldNumber);
    set(config::MeshType::kWaypoint, v1::MeshSnapshot::kWaypointsFieldNumber);
    set(config::MeshType::kAuthorizationPolicy,
        v1::MeshSnapshot::kAuthorizationPoliciesFieldNumber);
    set(config::MeshType::kPeerAuthentication, v1::MeshSnapshot::kPeerAuthenticationsFieldNumber);
    set(config::MeshType::kRequestAuthentication,
        v1::MeshSnapshot::kRequestAuthenticationsFieldNumber);
    set(config::MeshType::kRouteTable, v1::MeshSnapshot::kRouteTablesFieldNumber);
    set(config::MeshType::kDestinationPolicy, v1::MeshSnapshot::kDestinationPoliciesFieldNumber);
    return fields;
  }();
  return kFields[indexOf(type)];
}

uint64_t resourceHash(config::MeshType type, const std::string& name, const std::string& version) {
  const char tag[2] = {static_cast<char>('0' + indexOf(type)), '\n'};
  uint64_t hash = fnv1a(kFnvOffset, std::string_view(tag, 2));
  hash = fnv1a(hash, name);
  hash = fnv1a(hash, std::string_view("\n", 1));
  return fnv1a(hash, version);
}

}  // namespace

void SnapshotAssembler::resourceChanged(config::MeshType type, const std::string& name,
                                        const std::string& old_version,
                                        const std::string& new_version) {
  // Present before: its hash comes out; present after: the new one goes in.
  bool existed = !old_version.empty();
  bool exists = !new_version.empty();
  if (existed) version_sum_ -= resourceHash(type, name, old_version);
  if (exists) version_sum_ += resourceHash(type, name, new_version);
  resources_ = resources_ + (exists ? 1 : 0) - (existed ? 1 : 0);
  for (Copy& copy : copies_) {
    if (type == config::MeshType::kSettings) {
      copy.settings_stale = true;
    } else {
      copy.stale.emplace(type, name);
    }
  }
}

std::shared_ptr<v1::MeshSnapshot> SnapshotAssembler::build(const HeldResources& store,
                                                           const ServiceMembership& membership) {
  // A copy only the assembler holds may be changed; prefer the one with fewer changes to catch up.
  Copy* best = nullptr;
  for (Copy& copy : copies_) {
    if (!copy.snapshot || copy.snapshot.use_count() != 1 || copy.settings_stale) continue;
    if (!best || copy.stale.size() < best->stale.size()) best = &copy;
  }
  // Past a quarter of the mesh, patching costs about what a fresh build does.
  last_patched_ = best && best->stale.size() <= resources_ / 4;
  Copy* target = best;
  if (last_patched_) {
    // Whatever thread dropped its reference last, its reads happened before this write.
    std::atomic_thread_fence(std::memory_order_acquire);
    patch(*best, store, membership);
  } else {
    target = &copies_[0];
    for (Copy& copy : copies_) {
      if (!copy.snapshot || copy.snapshot.use_count() == 1) target = &copy;
    }
    buildFresh(*target, store, membership);
  }
  target->snapshot->set_version(fmt::format("{:016x}", version_sum_));
  return target->snapshot;
}

void SnapshotAssembler::buildFresh(Copy& copy, const HeldResources& store,
                                   const ServiceMembership& membership) const {
  copy = Copy{};
  copy.snapshot = std::make_shared<v1::MeshSnapshot>();
  v1::MeshSnapshot& snapshot = *copy.snapshot;
  for (config::MeshType type : config::kMeshTypes) {
    const auto& held = store[indexOf(type)];
    const auto* field = fieldOf(type);
    auto& position = copy.position[indexOf(type)];
    auto& names = copy.names[indexOf(type)];
    if (field) {
      position.reserve(held.size());
      names.reserve(held.size());
    }
    for (const auto& [name, resource] : held) {
      snapshot.MergeFrom(resource.decoded);
      if (type == config::MeshType::kService && snapshot.services_size() > 0) {
        membership.fill(*snapshot.mutable_services(snapshot.services_size() - 1));
      }
      if (!field) continue;
      position.emplace(name, static_cast<int>(names.size()));
      names.push_back(name);
    }
  }
}

void SnapshotAssembler::patch(Copy& copy, const HeldResources& store,
                              const ServiceMembership& membership) const {
  v1::MeshSnapshot& snapshot = *copy.snapshot;
  const auto* reflection = snapshot.GetReflection();
  for (const auto& [type, name] : copy.stale) {
    const auto* field = fieldOf(type);
    auto& position = copy.position[indexOf(type)];
    auto& names = copy.names[indexOf(type)];
    const auto& held = store[indexOf(type)];
    auto now = held.find(name);
    auto at = position.find(name);
    if (now != held.end()) {
      const auto& source = reflection->GetRepeatedMessage(now->second.decoded, field, 0);
      google::protobuf::Message* target =
          at != position.end() ? reflection->MutableRepeatedMessage(&snapshot, field, at->second)
                               : reflection->AddMessage(&snapshot, field);
      target->CopyFrom(source);
      if (type == config::MeshType::kService) {
        membership.fill(static_cast<v1::Service&>(*target));
      }
      if (at == position.end()) {
        position.emplace(name, static_cast<int>(names.size()));
        names.push_back(name);
      }
    } else if (at != position.end()) {
      // The last element takes the removed one's place.
      const int index = at->second;
      const int last = static_cast<int>(names.size()) - 1;
      position.erase(at);
      if (index != last) {
        reflection->SwapElements(&snapshot, field, index, last);
        names[static_cast<size_t>(index)] = std::move(names.back());
        position[names[static_cast<size_t>(index)]] = index;
      }
      reflection->RemoveLast(&snapshot, field);
      names.pop_back();
    }
  }
  copy.stale.clear();
}

}  // namespace ambit::discovery
