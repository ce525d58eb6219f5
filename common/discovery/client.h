#pragma once
// DiscoverySource: the ConfigSource of a daemon that takes its mesh from ambit-control (or
// from its node agent's relay) over delta discovery instead of a config directory.
//
// It subscribes to every mesh type ("*"), keeps the resources it receives, and once every type
// has answered (a whole, consistent mesh) publishes a MeshSnapshot built from them; afterwards
// it publishes again a few milliseconds (`debounce`) after each change. Each response is ACKed,
// or NACKed with the reason when one of its resources does not decode (the response is
// dropped as a whole, the last good snapshot stays, and the sink is told via reject()).
//
// Connections: streams come from `streams` (client_stream.h): gRPC's runtime over the channel of
// channel.h per address, or grpc_lite on a unix socket (the ztunnel). When a stream fails it
// reconnects with jittered exponential backoff, moving on to the next address (ambit-control
// replicas; a dns:/// name with several A records also fails over inside gRPC), and resumes with
// initial_versions: the server sends only what changed, and nothing is republished when
// nothing did.
//
// Publishing costs what changed, not the whole mesh: snapshot_assembler.h patches a copy the
// consumer has let go of.
//
// Persistence: with `snapshot_file`, the latest published snapshot is written there atomically,
// after the sink has it, at most once a second and once more when the source stops.
// At start the file seeds the resource store (so the first stream resumes from it) and, when
// no server has answered within `persisted_after`, the persisted snapshot is published and the
// log says the daemon runs from it and how old it is. A corrupt file is reported and ignored.
//
// A published snapshot's `version` is a hash of its resources' names and versions.
//
// Threads and lifetime as in source.h: everything runs on `config_io`; gRPC's callbacks only
// post there. The destructor (on the config thread) cancels the stream and waits for the
// transport to let go of it; the sink is never called afterwards.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/config/source.h"
#include "common/discovery/client_stream.h"

namespace ambit::discovery {

struct DiscoverySourceOptions {
  // How streams reach the server: grpcStreams() (grpc_client_stream.h) or liteStreams()
  // (lite_client_stream.h, unix sockets only). Required.
  StreamFactoryMaker streams;
  std::vector<std::string> addresses;   // "host:port", "dns:///host:port" or "unix:/path"
  std::filesystem::path control_ca;     // for TLS addresses (channel.h)
  std::filesystem::path token_file;     // optional bearer token, re-read on every (re)connect
  std::string server_name;              // optional TLS name override (channel.h)
  std::string node;                     // sent as DeltaDiscoveryRequest.node
  std::filesystem::path snapshot_file;  // optional persistence
  std::chrono::milliseconds debounce{10};
  std::chrono::milliseconds persisted_after{std::chrono::seconds(3)};
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(5)};  // back soon after an outage
  uint64_t seed = std::random_device{}();                          // backoff jitter (tests fix it)
};

// What the source is doing, for readiness, admin dumps and tests. Thread-safe.
class DiscoveryStatus {
 public:
  struct Values {
    bool connected = false;       // a stream is open and has answered
    bool from_persisted = false;  // the last publish was the persisted snapshot
    std::string server;           // address of the current or last stream
    std::string last_error;       // why the last stream ended or failed, "" if none
    uint64_t streams = 0;         // streams started
    uint64_t responses = 0;
    uint64_t nacks = 0;  // responses this client rejected
    uint64_t publishes = 0;
    // Streams ended, by Istio ztunnel's reason (istio_xds_connection_terminations_total):
    // ConnectionError (ended before any answer), Error (failed after answering), Complete
    // (closed cleanly by the server).
    std::map<std::string, uint64_t> terminations;
  };
  Values get() const {
    std::lock_guard lock(mu_);
    return values_;
  }
  template <typename F>
  void update(F&& f) {
    std::lock_guard lock(mu_);
    f(values_);
  }

 private:
  mutable std::mutex mu_;
  Values values_;
};

class DiscoverySource final : public config::ConfigSource {
 public:
  explicit DiscoverySource(DiscoverySourceOptions options);
  ~DiscoverySource() override;
  DiscoverySource(const DiscoverySource&) = delete;
  DiscoverySource& operator=(const DiscoverySource&) = delete;

  // Builds the channels (fails on bad options: no address, an unreadable --control-ca), loads
  // the persisted snapshot and opens the first stream. Does not wait for the server: the
  // first version is published when the mesh is in sync or from the persisted snapshot.
  Status start(boost::asio::io_context& config_io, config::ConfigSink& sink) override;
  // "discovery <address>[,<address>...]"
  std::string name() const override;

  // Shared, so that it stays readable after the source is handed to a pipeline.
  std::shared_ptr<const DiscoveryStatus> status() const { return status_; }

  class Core;

 private:
  DiscoverySourceOptions options_;
  std::shared_ptr<DiscoveryStatus> status_;
  std::shared_ptr<Core> core_;
};

}  // namespace ambit::discovery
