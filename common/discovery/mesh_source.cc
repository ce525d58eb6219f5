#include "common/discovery/mesh_source.h"

#include "common/config/directory_source.h"
#include "common/discovery/channel.h"
#include "common/discovery/client.h"

namespace ambit::discovery {

Status validateMeshSource(const MeshSourceOptions& o) {
  if (o.config_dir.empty() == o.discovery_address.empty()) {
    return makeError(
        "give exactly one of --config-dir (local mode) and --discovery-address (Kubernetes "
        "mode)");
  }
  if (!o.discovery_address.empty() && !isUnixAddress(o.discovery_address) && o.control_ca.empty()) {
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
  return std::unique_ptr<config::ConfigSource>(std::make_unique<DiscoverySource>(std::move(d)));
}

Result<std::shared_ptr<identity::CaClient>> certificateClient(const std::string& ca_address,
                                                              const MeshSourceOptions& o) {
  identity::CaClientOptions ca;
  ca.address = ca_address;
  ca.node = o.node;
  if (!isUnixAddress(ca_address)) {
    ChannelOptions c;
    c.address = ca_address;
    c.control_ca = o.control_ca;
    c.token_file = o.token_file;
    auto channel = makeControlChannel(c);
    if (!channel) return channel.error().context("--ca-address " + ca_address);
    ca.channel = std::move(*channel);
  }
  return std::make_shared<identity::CaClient>(std::move(ca));
}

std::shared_ptr<const DiscoveryStatus> discoveryStatus(const config::ConfigSource& source) {
  const auto* discovery = dynamic_cast<const DiscoverySource*>(&source);
  return discovery ? discovery->status() : nullptr;
}

}  // namespace ambit::discovery
