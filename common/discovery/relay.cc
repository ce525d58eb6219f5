#include "common/discovery/relay.h"

#include <map>

#include "common/discovery/service_membership.h"

namespace ambit::discovery {

size_t updateFromSnapshot(ResourceStore& store, const v1::MeshSnapshot& snapshot) {
  std::array<std::vector<ResourceUpsert>, config::kMeshTypes.size()> upserts;
  std::array<std::map<std::string, bool>, config::kMeshTypes.size()> present;
  std::array<std::shared_ptr<const TypeView>, config::kMeshTypes.size()> views;
  for (config::MeshType type : config::kMeshTypes)
    views[static_cast<size_t>(type)] = store.view(type);
  config::forEachResource(snapshot, [&](config::MeshType type, const std::string& name,
                                        const google::protobuf::Message& message) {
    size_t i = static_cast<size_t>(type);
    present[i][name] = true;
    ResourceUpsert upsert = meshUpsert(type, name, message);
    const StoredResource* stored = views[i]->find(name);
    if (stored != nullptr && stored->version == contentVersion(upsert.resource)) return;
    upserts[i].push_back(std::move(upsert));
  });
  size_t changes = 0;
  for (config::MeshType type : config::kMeshTypes) {
    size_t i = static_cast<size_t>(type);
    std::vector<std::string> removed;
    views[i]->forEach([&](const std::string& name, const StoredResource&) {
      if (present[i].count(name) == 0) removed.push_back(name);
    });
    changes += upserts[i].size() + removed.size();
    if (!upserts[i].empty() || !removed.empty()) {
      store.update(type, std::move(upserts[i]), removed);
    }
  }
  return changes;
}

Result<std::unique_ptr<Relay>> Relay::start(const std::string& address, std::string node) {
  Principal local;
  local.node = std::move(node);
  auto store = std::make_shared<ResourceStore>(/*ready=*/false);
  auto server = DiscoveryServer::start(
      store, {.address = address, .authenticator = std::make_shared<AllowLocal>(local)});
  if (!server) return server.error().context("discovery relay");
  return std::unique_ptr<Relay>(new Relay(std::move(store), std::move(*server)));
}

void Relay::push(const v1::MeshSnapshot& snapshot) {
  updateFromSnapshot(*store_, snapshot);
  store_->markReady();
}

}  // namespace ambit::discovery
