#include "common/discovery/mesh_source.h"

#include "common/config/directory_source.h"
#include "common/discovery/client.h"

namespace ambit::discovery {

Status validateMeshSource(const MeshSourceOptions& o) {
  if (o.config_dir.empty() == o.discovery_address.empty()) {
    return makeError(
        "give exactly one of --config-dir (local mode) and --discovery-address (Kubernetes "
        "mode)");
  }
  if (!o.discovery_address.empty() && !o.discovery_address.starts_with("unix:") &&
      o.control_ca.empty()) {
    return makeError("--discovery-address {} is reached over TLS: --control-ca is required",
                     o.discovery_address);
  }
  return Status::ok();
}

Result<std::unique_ptr<config::ConfigSource>> meshConfigSource(const MeshSourceOptions& o) {
  AMBIT_TRY(validateMeshSource(o));
  if (!o.config_dir.empty()) return config::localConfigSource(o.config_dir, o.trust_domain);
  DiscoverySourceOptions d;
  d.addresses = {o.discovery_address};
  d.control_ca = o.control_ca;
  d.token_file = o.token_file;
  d.node = o.node;
  d.snapshot_file = o.snapshot_file;
  d.streams = o.streams;
  return std::unique_ptr<config::ConfigSource>(std::make_unique<DiscoverySource>(std::move(d)));
}

std::shared_ptr<const DiscoveryStatus> discoveryStatus(const config::ConfigSource& source) {
  const auto* discovery = dynamic_cast<const DiscoverySource*>(&source);
  return discovery ? discovery->status() : nullptr;
}

}  // namespace ambit::discovery
