#pragma once
// Where a daemon takes its mesh and its certificates from, decided by its flags, the same way
// for the agent, the ztunnel and the waypoint:
//   --config-dir DIR            local mode: a directory of Kubernetes-shaped YAML
//   --discovery-address ADDR    Kubernetes mode: delta discovery from ambit-control
//                               ("host:port", TLS) or from the node agent's relay ("unix:/path")
//   --control-ca FILE           trust anchor of ambit-control's serving certificate (TLS only)
//   --token-file FILE           projected service-account token sent to ambit-control (TLS only)
// Exactly one of --config-dir and --discovery-address. Errors name the flags.
// How discovery streams travel is the daemon's choice (`streams`): the ztunnel, which reaches
// only its node agent's unix socket, uses grpc_lite and links no gRPC runtime; the agent and
// the waypoint use gRPC's (grpc_client_stream.h), and take their certificate client from
// channel.h (certificateClient).

#include <filesystem>
#include <memory>
#include <string>

#include "common/config/source.h"
#include "common/discovery/client.h"
#include "common/status.h"

namespace ambit::discovery {

struct MeshSourceOptions {
  std::string config_dir;
  std::string discovery_address;
  std::string control_ca;
  std::string token_file;
  std::string node;            // sent with discovery requests and CSRs
  std::string trust_domain;    // local mode
  std::string snapshot_file;   // optional: persist the mesh (the agent)
  StreamFactoryMaker streams;  // with discovery_address: grpcStreams() or liteStreams()
};

Status validateMeshSource(const MeshSourceOptions& options);

// The ConfigSource the flags select.
Result<std::unique_ptr<config::ConfigSource>> meshConfigSource(const MeshSourceOptions& options);

// The discovery client's status (thread-safe, shared) when `source` is one that
// meshConfigSource() built for a discovery address; null for a local directory.
std::shared_ptr<const DiscoveryStatus> discoveryStatus(const config::ConfigSource& source);

}  // namespace ambit::discovery
