#pragma once
// The node agent's relay: the agent takes the mesh from ambit-control (a DiscoverySource) and
// serves it again to its ztunnel on a local unix socket, so that ztunnels never talk to the
// control plane and a node's data path keeps its mesh while the control plane is away.
//
// updateFromSnapshot() turns a whole snapshot into the store updates that make the store hold
// exactly its resources (upserts of what changed, removal of what is gone). Relay bundles a
// ResourceStore and a DiscoveryServer (AllowLocal) on the socket.

#include <memory>
#include <string>

#include "ambit/v1/mesh.pb.h"
#include "common/discovery/resource_store.h"
#include "common/discovery/server.h"
#include "common/status.h"

namespace ambit::discovery {

// Makes `store` hold exactly the resources of `snapshot`. Returns the number of resources
// upserted or removed (0 when the store already held the snapshot).
size_t updateFromSnapshot(ResourceStore& store, const v1::MeshSnapshot& snapshot);

class Relay {
 public:
  // address: "unix:/run/ambit/<node>/discovery.sock".
  [[nodiscard]] static Result<std::unique_ptr<Relay>> start(const std::string& address,
                                                            std::string node);

  // Thread-safe. Serves `snapshot` from now on: each stream gets what changed. Streams get
  // nothing before the first push (the agent has no mesh yet).
  void push(const v1::MeshSnapshot& snapshot);

  const std::string& address() const { return server_->address(); }
  DiscoveryServerStats stats() const { return server_->stats(); }
  const std::shared_ptr<ResourceStore>& store() const { return store_; }

 private:
  Relay(std::shared_ptr<ResourceStore> store, std::unique_ptr<DiscoveryServer> server)
      : store_(std::move(store)), server_(std::move(server)) {}

  std::shared_ptr<ResourceStore> store_;
  std::unique_ptr<DiscoveryServer> server_;
};

}  // namespace ambit::discovery
