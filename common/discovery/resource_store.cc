#include "common/discovery/resource_store.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace ambit::discovery {

namespace {
constexpr size_t kMaxChangeHistory = 256;
}  // namespace
namespace {

size_t indexOf(config::MeshType type) { return static_cast<size_t>(type); }

}  // namespace

uint64_t fnv1a(uint64_t hash, std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

google::protobuf::Any packResource(const google::protobuf::Message& message) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/" + message.GetDescriptor()->full_name());
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  any.set_value(std::move(bytes));
  return any;
}

std::string contentVersion(const google::protobuf::Any& resource) {
  uint64_t hash = fnv1a(kFnvOffset, resource.type_url());
  hash = fnv1a(hash, std::string_view("\0", 1));
  hash = fnv1a(hash, resource.value());
  return fmt::format("{:016x}", hash);
}

ResourceStore::ResourceStore(bool ready) : ready_(ready) {
  for (auto& view : views_) view = std::make_shared<TypeView>();
}

TypeView::TypeView() {
  static const auto kEmpty = std::make_shared<const Bucket>();
  buckets_.fill(kEmpty);
}

size_t TypeView::bucketOf(std::string_view name) {
  return static_cast<size_t>(fnv1a(kFnvOffset, name) % kBuckets);
}

const StoredResource* TypeView::find(std::string_view name) const {
  const Bucket& bucket = *buckets_[bucketOf(name)];
  auto it = bucket.find(name);
  return it == bucket.end() ? nullptr : it->second.get();
}

void TypeView::forEach(
    const std::function<void(const std::string&, const StoredResource&)>& fn) const {
  for (const auto& bucket : buckets_) {
    for (const auto& [name, resource] : *bucket) fn(name, *resource);
  }
}

std::optional<std::vector<std::string>> TypeView::changedSince(uint64_t since) const {
  std::vector<std::string> names;
  if (since >= revision) return names;
  for (const ChangeEntry* e = changes.get(); e != nullptr; e = e->previous.get()) {
    if (e->revision <= since) break;
    names.insert(names.end(), e->names.begin(), e->names.end());
    if (e->revision == since + 1) return names;  // reached back to `since`: complete
  }
  return std::nullopt;
}

bool ResourceStore::update(config::MeshType type, std::vector<ResourceUpsert> upserts,
                           const std::vector<std::string>& removed) {
  {
    std::lock_guard lock(mu_);
    const TypeView& current = *views_[indexOf(type)];
    // Copied on the first real change: the bucket pointers only (the maps stay shared).
    std::shared_ptr<TypeView> next;
    // The buckets this update copied, writable until `next` is published.
    std::array<TypeView::Bucket*, TypeView::kBuckets> copied{};
    auto mutableBucket = [&](size_t index) -> TypeView::Bucket& {
      if (!next) next = std::make_shared<TypeView>(current);
      if (copied[index] == nullptr) {
        auto copy = std::make_shared<TypeView::Bucket>(*next->buckets_[index]);
        copied[index] = copy.get();
        next->buckets_[index] = std::move(copy);
      }
      return *copied[index];
    };
    auto latest = [&]() -> const TypeView& { return next ? *next : current; };
    std::vector<std::string> changed;
    for (ResourceUpsert& upsert : upserts) {
      std::string version = contentVersion(upsert.resource);
      const StoredResource* stored = latest().find(upsert.name);
      if (stored != nullptr && stored->version == version) continue;
      changed.push_back(upsert.name);
      bool added = stored == nullptr;
      StoredResource next_resource{std::move(version), std::move(upsert.resource), {}, {}};
      if (upsert.lean) {
        next_resource.lean_version = contentVersion(*upsert.lean);
        next_resource.lean_resource = std::move(*upsert.lean);
      }
      auto resource = std::make_shared<const StoredResource>(std::move(next_resource));
      mutableBucket(TypeView::bucketOf(upsert.name))[upsert.name] = std::move(resource);
      if (added) ++next->size_;
    }
    for (const std::string& name : removed) {
      if (latest().find(name) == nullptr) continue;
      changed.push_back(name);
      mutableBucket(TypeView::bucketOf(name)).erase(name);
      --next->size_;
    }
    if (!next) return false;
    next->revision = current.revision + 1;
    auto entry = std::make_shared<ChangeEntry>();
    entry->revision = next->revision;
    entry->names = std::move(changed);
    // Bounded history: a stream further behind than this diffs the whole type once.
    if (current.changes && current.changes->depth < kMaxChangeHistory) {
      entry->previous = current.changes;
      entry->depth = current.changes->depth + 1;
    }
    next->changes = std::move(entry);
    views_[indexOf(type)] = std::move(next);
    ++system_version_;
  }
  notify();
  return true;
}

void ResourceStore::markReady() {
  {
    std::lock_guard lock(mu_);
    if (ready_) return;
    ready_ = true;
  }
  notify();
}

bool ResourceStore::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

void ResourceStore::notify() {
  std::lock_guard lock(listeners_mu_);
  for (auto& [id, listener] : listeners_) listener();
}

std::shared_ptr<const TypeView> ResourceStore::view(config::MeshType type) const {
  std::lock_guard lock(mu_);
  return views_[indexOf(type)];
}

uint64_t ResourceStore::systemVersion() const {
  std::lock_guard lock(mu_);
  return system_version_;
}

ResourceStore::ListenerId ResourceStore::subscribe(Listener listener) {
  std::lock_guard lock(listeners_mu_);
  ListenerId id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void ResourceStore::unsubscribe(ListenerId id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

}  // namespace ambit::discovery
