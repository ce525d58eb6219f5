#pragma once
// DiscoveryServer: serves DiscoveryService.DeltaStream (proto/ambit/v1/discovery.proto) from a
// ResourceStore, like xDS incremental:
//
// - A stream subscribes per type URL to names or to "*" (all). Its first subscription for a
//   type is answered with the type's state minus what `initial_versions` says the client
//   already holds at the same version, plus `removed` for held names that no longer exist
//   (resuming after a reconnect, possibly to another replica: versions are content hashes).
//   That first response is sent even when empty, so a client knows when it is in sync. Nothing
//   is sent while the store is not ready (ResourceStore::markReady()).
// - Each response carries a nonce; the client ACKs or NACKs it (nonce + error_detail). A NACK
//   is logged with the client's node and message and counted; the server treats the rejected
//   versions as sent and does not resend them (a new version of the resource is sent).
// - At most one un-ACKed response per type per stream: changes arriving meanwhile are
//   coalesced into the next response, sent when the ACK comes (pushes coalesce under churn).
// - Each stream is authenticated once, before its first request is read, by the Authenticator
//   (asynchronous); a refused stream ends with UNAUTHENTICATED and the reason.
//
// Listening: "host:port" with TLS (certificate chain and key from the caller, as PEM or as
// files watched for rotation; port 0 picks one) or "unix:/path" (plaintext; the directory is
// created, a stale socket removed, the socket made 0660). Other gRPC services (ambit-control's
// CertificateService) can share the server and its port.
//
// Threads: one thread the server owns polls gRPC's completion queue and runs every stream's
// logic as its operations complete (delta_stream.h: no hand-off between threads per message);
// store changes are pushed from that thread too, so a slow client never blocks a producer
// calling ResourceStore::update(). Other gRPC services sharing the server keep their own
// threading.

#include <grpcpp/impl/codegen/service_type.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/discovery/authenticator.h"
#include "common/discovery/resource_store.h"
#include "common/status.h"

namespace prometheus {
class Registry;
}

namespace ambit::discovery {

// The serving certificate: PEM text fixed for the server's life, or files that gRPC re-reads
// every `refresh` so that a rotated certificate is served without a restart (write the new
// key and chain; a pair that does not match yet is skipped until it does).
struct ServerTls {
  std::string cert_chain_pem;  // the serving certificate first, then intermediates
  std::string key_pem;
  std::filesystem::path cert_chain_file;  // instead of the PEM text
  std::filesystem::path key_file;
  std::chrono::seconds refresh{60};
};

struct DiscoveryServerOptions {
  std::string address;                            // "host:port" or "unix:/path"
  std::optional<ServerTls> tls;                   // required for host:port, unused for unix:
  std::shared_ptr<Authenticator> authenticator;   // required
  std::vector<grpc::Service*> extra_services;     // served too; must outlive the server
  std::shared_ptr<prometheus::Registry> metrics;  // optional: ambit_discovery_* families
  // With `metrics`: also istiod's names for the same counts (pilot_xds streams,
  // pilot_xds_pushes{type} responses, pilot_total_xds_rejects{type} NACKs); ambit-control sets it.
  bool istiod_metrics = false;
};

// Counters since start; also exported as metrics when a registry is given.
struct DiscoveryServerStats {
  uint64_t streams_active = 0;
  uint64_t streams_refused = 0;  // authentication refused
  uint64_t requests = 0;         // DeltaDiscoveryRequests handled
  uint64_t responses = 0;        // DeltaDiscoveryResponses sent
  uint64_t acks = 0;
  uint64_t nacks = 0;
};

class DiscoveryServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<DiscoveryServer>> start(
      std::shared_ptr<ResourceStore> store, DiscoveryServerOptions options);
  ~DiscoveryServer();
  DiscoveryServer(const DiscoveryServer&) = delete;
  DiscoveryServer& operator=(const DiscoveryServer&) = delete;

  // Ends every stream (clients see UNAVAILABLE and reconnect elsewhere), stops listening and
  // waits for running calls; idempotent.
  void shutdown();

  // The address clients dial: "host:<bound port>" or "unix:/path".
  const std::string& address() const;
  int port() const;  // the bound TCP port; 0 for a unix socket
  DiscoveryServerStats stats() const;

  struct Impl;

 private:
  explicit DiscoveryServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ambit::discovery
