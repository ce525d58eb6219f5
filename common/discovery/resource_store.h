#pragma once
// ResourceStore: the resources a DiscoveryServer serves, per mesh type (config/mesh_resources.h):
// name -> (version, serialized Any). Producers (ambit-control's incremental model, the agent's
// relay) call update(); every DiscoveryServer serving the store is told and pushes the change
// to its streams.
//
// Versions are content hashes (of the Any's type URL and bytes), so two replicas holding the
// same content give the same versions and a client that resumes against the other replica
// (initial_versions) is sent only what really differs. Pack resources with packResource()
// (deterministic serialization) so equal messages give equal bytes.
//
// Thread-safe. Reads return immutable per-type views (copy-on-write, per bucket of names): a
// stream diffs against a view without holding the store's lock. Listeners run on the updating
// thread after the change is visible, with no store lock held except the listener list's.

#include <google/protobuf/any.pb.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/mesh_resources.h"

namespace ambit::discovery {

struct StoredResource {
  std::string version;
  google::protobuf::Any resource;
  // A leaner form for clients that can take it (service_membership.h: a Service without its
  // endpoints); empty `lean_version`: there is none, every client gets `resource`.
  std::string lean_version;
  google::protobuf::Any lean_resource;
};

// The names one update of a type touched, linked to the previous update's entry (shared and
// immutable, so every view carries its history for free). Streams that diffed revision R
// look only at the names changed since R instead of diffing every resource of the type.
struct ChangeEntry {
  uint64_t revision = 0;  // the revision this update produced
  std::vector<std::string> names;
  std::shared_ptr<const ChangeEntry> previous;  // null: history starts here
  size_t depth = 1;                             // entries in this chain, bounded
};

// One type's resources at one revision. The resources are sharded into kBuckets buckets by a
// stable hash of the name, each an immutable, shared map: an update copies only the buckets it
// touches and shares the others with the previous view, so it costs the change, not the size
// of the type. Iteration order is bucket by bucket, by name within a bucket: deterministic
// (the hash is stable), though not sorted by name.
class TypeView {
 public:
  static constexpr size_t kBuckets = 256;
  using Bucket = std::map<std::string, std::shared_ptr<const StoredResource>, std::less<>>;

  TypeView();

  uint64_t revision = 0;                       // bumps on every change of this type
  std::shared_ptr<const ChangeEntry> changes;  // newest first; may not reach back far

  // The resource named `name`, or null. Valid as long as this view is.
  const StoredResource* find(std::string_view name) const;
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Calls fn(name, resource) for every resource, in the deterministic order above.
  void forEach(const std::function<void(const std::string&, const StoredResource&)>& fn) const;

  // The bucket that holds (or would hold) `name`, and a bucket's map: for tests of sharing.
  static size_t bucketOf(std::string_view name);
  const std::shared_ptr<const Bucket>& bucket(size_t index) const { return buckets_[index]; }

  // The names changed after revision `since` (upserted or removed), or nullopt when the history
  // does not reach back that far (diff everything then).
  std::optional<std::vector<std::string>> changedSince(uint64_t since) const;

 private:
  friend class ResourceStore;
  std::array<std::shared_ptr<const Bucket>, kBuckets> buckets_;
  size_t size_ = 0;
};

struct ResourceUpsert {
  std::string name;
  google::protobuf::Any resource;
  std::optional<google::protobuf::Any> lean;  // see StoredResource::lean_resource
};

// `message` in an Any, serialized deterministically (map fields in key order).
google::protobuf::Any packResource(const google::protobuf::Message& message);

// FNV-1a, 64 bit, continued from `hash` (start with kFnvOffset): stable across processes and
// builds, unlike std::hash.
inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
uint64_t fnv1a(uint64_t hash, std::string_view bytes);

// The version of a resource: a hex content hash of its type URL and bytes.
std::string contentVersion(const google::protobuf::Any& resource);

class ResourceStore {
 public:
  using Listener = std::function<void()>;
  using ListenerId = uint64_t;

  // A store that is not ready holds its streams' responses back until markReady(): a relay or
  // a control plane that has not loaded its first state must not serve an empty mesh, which a
  // client would take for the truth.
  explicit ResourceStore(bool ready = true);
  ResourceStore(const ResourceStore&) = delete;
  ResourceStore& operator=(const ResourceStore&) = delete;

  // Inserts or replaces `upserts` and removes `removed` (unknown names are ignored). An upsert
  // whose content equals the stored one changes nothing; when nothing changes, listeners are
  // not called. Returns whether anything changed.
  bool update(config::MeshType type, std::vector<ResourceUpsert> upserts,
              const std::vector<std::string>& removed);

  // Idempotent; listeners are called on the first call.
  void markReady();
  bool ready() const;

  std::shared_ptr<const TypeView> view(config::MeshType type) const;
  // Counts every change of any type: the DeltaDiscoveryResponse's system_version.
  uint64_t systemVersion() const;

  // `listener` is called after each change until unsubscribe() returns.
  ListenerId subscribe(Listener listener);
  void unsubscribe(ListenerId id);

 private:
  mutable std::mutex mu_;
  std::array<std::shared_ptr<const TypeView>, config::kMeshTypes.size()> views_;  // mu_
  uint64_t system_version_ = 0;                                                   // mu_
  bool ready_;                                                                    // mu_

  void notify();

  std::mutex listeners_mu_;  // held while listeners run, so unsubscribe() waits for them
  std::map<ListenerId, Listener> listeners_;
  ListenerId next_listener_ = 1;
};

}  // namespace ambit::discovery
