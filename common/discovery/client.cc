#include "common/discovery/client.h"

#include <fmt/chrono.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <set>

#include "common/config/mesh_resources.h"
#include "common/discovery/client_stream.h"
#include "common/discovery/resource_store.h"
#include "common/discovery/service_membership.h"
#include "common/discovery/snapshot_assembler.h"
#include "common/discovery/snapshot_file.h"
#include "common/log.h"

namespace ambit::discovery {
namespace {

using internal::ClientStream;
using Clock = std::chrono::steady_clock;

constexpr auto kPersistEvery = std::chrono::seconds(1);

size_t indexOf(config::MeshType type) { return static_cast<size_t>(type); }

// gRPC's words, plus what a TLS failure most likely means for the operator.
std::string describe(const grpc_lite::CallStatus& status, const DiscoverySourceOptions& options) {
  if (status.ok()) return "the server closed the stream";
  std::string out = fmt::format("{} (gRPC code {})", status.message, status.number());
  const std::string& message = status.message;
  if (message.find("certificate verify failed") != std::string::npos) {
    out += fmt::format(": the server's certificate does not chain to the root in --control-ca {}",
                       options.control_ca.string());
  } else if (message.find("not in peer certificate") != std::string::npos) {
    out += ": the server's certificate is not issued for the name dialed";
  }
  return out;
}

}  // namespace

class DiscoverySource::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const DiscoverySourceOptions& options, std::shared_ptr<DiscoveryStatus> status,
       boost::asio::io_context& io, config::ConfigSink& sink)
      : options_(options),
        status_(std::move(status)),
        io_(io),
        sink_(sink),
        rng_(options.seed),
        reconnect_timer_(io),
        publish_timer_(io),
        persisted_timer_(io),
        persist_timer_(io) {}

  Status begin();
  void stop();

 private:
  void loadPersisted();
  void connect();
  internal::ClientStreamEvents events();
  void onResponse(ClientStream* stream, v1::DeltaDiscoveryResponse response);
  void onStreamDone(ClientStream* stream, const grpc_lite::CallStatus& status);
  // Decodes every resource of a response (same order); the first problem, if any.
  Result<std::vector<v1::MeshSnapshot>> decode(const v1::DeltaDiscoveryResponse& response,
                                               config::MeshType type) const;
  bool apply(const v1::DeltaDiscoveryResponse& response, config::MeshType type,
             std::vector<v1::MeshSnapshot> decoded);
  // Keeps membership_ current for a held Workload going from `before` to `after` (either
  // may hold no workload) and marks the held Services whose endpoints change.
  void workloadChanged(const v1::MeshSnapshot& before, const v1::MeshSnapshot& after);
  void nack(const v1::DeltaDiscoveryResponse& response, const Error& error);
  void schedulePublish();
  void publishNow();
  void publishPersisted();
  // Writes `snapshot` to --snapshot-file soon, at most once per kPersistEvery: the file only
  // has to be recent enough to resume from (the stream sends what changed since).
  void persistLater(std::shared_ptr<const v1::MeshSnapshot> snapshot);
  void persistNow();
  std::chrono::milliseconds nextBackoff();

  DiscoverySourceOptions options_;
  std::shared_ptr<DiscoveryStatus> status_;
  boost::asio::io_context& io_;
  config::ConfigSink& sink_;
  std::unique_ptr<ClientStreamFactory> streams_;
  std::mt19937_64 rng_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer publish_timer_;
  boost::asio::steady_timer persisted_timer_;
  boost::asio::steady_timer persist_timer_;

  HeldResources store_;
  ServiceMembership membership_;  // Service endpoints, from the held Workloads' services
  SnapshotAssembler assembler_;
  std::shared_ptr<ClientStream> stream_;  // the current stream, if any
  std::set<config::MeshType> awaiting_;   // types that have not answered on this stream
  bool stream_answered_ = false;
  size_t next_address_ = 0;
  int failures_ = 0;        // consecutive streams that got no answer
  bool dirty_ = false;      // the store differs from the last published snapshot
  bool published_ = false;  // something was published
  bool publish_pending_ = false;
  std::shared_ptr<const v1::MeshSnapshot> persisted_;
  std::chrono::system_clock::time_point persisted_at_;
  std::shared_ptr<const v1::MeshSnapshot> unpersisted_;  // published, not yet written
  bool persist_pending_ = false;
  Clock::time_point last_persist_{};
};

Status DiscoverySource::Core::begin() {
  if (!options_.streams) return makeError("discovery: no stream transport (a bug)");
  auto streams = options_.streams(options_);
  if (!streams) return streams.error().context("discovery");
  streams_ = std::move(*streams);
  loadPersisted();
  connect();
  return Status::ok();
}

void DiscoverySource::Core::stop() {
  reconnect_timer_.cancel();
  publish_timer_.cancel();
  persisted_timer_.cancel();
  persist_timer_.cancel();
  persistNow();  // the last version received survives a restart
  if (auto stream = std::exchange(stream_, nullptr)) {
    stream->cancel();
    stream->release();
    stream->waitDone();
  }
}

void DiscoverySource::Core::loadPersisted() {
  if (options_.snapshot_file.empty()) return;
  auto loaded = readSnapshotFile(options_.snapshot_file);
  if (!loaded) {
    if (loaded.error().code == ENOENT) {
      logInfo("discovery: no persisted snapshot at {} yet", options_.snapshot_file.string());
    } else {
      logError("discovery: {}", loaded.error().message);
    }
    return;
  }
  persisted_ = std::make_shared<const v1::MeshSnapshot>(std::move(loaded->snapshot));
  persisted_at_ = loaded->written_at;
  // The first stream resumes from it: the server sends only what differs. Workloads come
  // before Services (forEachResource's order): a Service whose endpoints are exactly its
  // members is held in the lean form, as a server that knows the feature sends it.
  config::forEachResource(*persisted_, [this](config::MeshType type, const std::string& name,
                                              const google::protobuf::Message& message) {
    ResourceUpsert form = meshUpsert(type, name, message);
    if (form.lean && membership_.matches(static_cast<const v1::Service&>(message))) {
      form.resource = std::move(*form.lean);
    }
    const google::protobuf::Any& any = form.resource;
    HeldResource held{contentVersion(any), {}};
    // Decoded from our own file a moment ago: cannot fail.
    (void)config::addResource(held.decoded, type, name, any);
    if (type == config::MeshType::kWorkload) workloadChanged({}, held.decoded);
    assembler_.resourceChanged(type, name, "", held.version);
    store_[indexOf(type)][name] = std::move(held);
  });
  persisted_timer_.expires_after(options_.persisted_after);
  persisted_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!ec && self && !self->published_) self->publishPersisted();
  });
}

internal::ClientStreamEvents DiscoverySource::Core::events() {
  std::weak_ptr<Core> weak = weak_from_this();
  internal::ClientStreamEvents events;
  events.alive = weak;
  events.response = [weak](ClientStream* stream, v1::DeltaDiscoveryResponse response) {
    if (auto self = weak.lock()) self->onResponse(stream, std::move(response));
  };
  events.read_ended = [](ClientStream* stream) { stream->release(); };
  events.done = [weak](ClientStream* stream, grpc_lite::CallStatus status) {
    if (auto self = weak.lock()) self->onStreamDone(stream, status);
  };
  return events;
}

void DiscoverySource::Core::connect() {
  const std::string& address = options_.addresses[next_address_];
  stream_ = streams_->open(next_address_, io_, events());
  awaiting_ = std::set<config::MeshType>(config::kMeshTypes.begin(), config::kMeshTypes.end());
  stream_answered_ = false;
  status_->update([&](DiscoveryStatus::Values& v) {
    ++v.streams;
    v.server = address;
  });
  logInfo("discovery: connecting to {} as node '{}'", address, options_.node);
  stream_->start();
  for (config::MeshType type : config::kMeshTypes) {
    v1::DeltaDiscoveryRequest request;
    request.set_node(options_.node);
    request.set_type_url(std::string(config::typeUrl(type)));
    request.add_subscribe("*");
    request.add_client_features(std::string(kWorkloadServicesFeature));
    for (const auto& [name, held] : store_[indexOf(type)]) {
      (*request.mutable_initial_versions())[name] = held.version;
    }
    stream_->write(std::move(request));
  }
}

Result<std::vector<v1::MeshSnapshot>> DiscoverySource::Core::decode(
    const v1::DeltaDiscoveryResponse& response, config::MeshType type) const {
  std::vector<v1::MeshSnapshot> decoded(static_cast<size_t>(response.resources_size()));
  for (int i = 0; i < response.resources_size(); ++i) {
    const v1::Resource& r = response.resources(i);
    if (r.name().empty()) {
      return makeError("a {} resource without a name", config::typeName(type));
    }
    AMBIT_TRY(config::addResource(decoded[static_cast<size_t>(i)], type, r.name(), r.resource()));
  }
  return decoded;
}

bool DiscoverySource::Core::apply(const v1::DeltaDiscoveryResponse& response, config::MeshType type,
                                  std::vector<v1::MeshSnapshot> decoded) {
  auto& held = store_[indexOf(type)];
  bool changed = false;
  for (int i = 0; i < response.resources_size(); ++i) {
    const v1::Resource& r = response.resources(i);
    HeldResource& slot = held[r.name()];
    if (slot.version == r.version() && !r.version().empty()) continue;
    // An unversioned resource still counts as present in the snapshot's version.
    std::string version = r.version().empty() ? "-" : r.version();
    if (type == config::MeshType::kWorkload) {
      workloadChanged(slot.decoded, decoded[static_cast<size_t>(i)]);
    }
    assembler_.resourceChanged(type, r.name(), slot.version, version);
    slot = HeldResource{std::move(version), std::move(decoded[static_cast<size_t>(i)])};
    changed = true;
  }
  for (const std::string& name : response.removed()) {
    auto it = held.find(name);
    if (it == held.end()) continue;
    if (type == config::MeshType::kWorkload) workloadChanged(it->second.decoded, {});
    assembler_.resourceChanged(type, name, it->second.version, "");
    held.erase(it);
    changed = true;
  }
  return changed;
}

void DiscoverySource::Core::workloadChanged(const v1::MeshSnapshot& before,
                                            const v1::MeshSnapshot& after) {
  std::vector<std::string> touched;
  membership_.workloadChanged(before.workloads_size() ? &before.workloads(0) : nullptr,
                              after.workloads_size() ? &after.workloads(0) : nullptr, touched);
  const auto& services = store_[indexOf(config::MeshType::kService)];
  for (const auto& name : touched) {
    // Same version in and out: only the assembled copy goes stale.
    if (auto it = services.find(name); it != services.end()) {
      assembler_.resourceChanged(config::MeshType::kService, name, it->second.version,
                                 it->second.version);
    }
  }
}

void DiscoverySource::Core::nack(const v1::DeltaDiscoveryResponse& response, const Error& error) {
  logWarn("discovery: rejecting response {} from {}: {} (the last good configuration stays)",
          response.nonce(), stream_->address(), error.message);
  v1::DeltaDiscoveryRequest request;
  request.set_node(options_.node);
  request.set_type_url(response.type_url());
  request.set_response_nonce(response.nonce());
  request.mutable_error_detail()->set_code(
      static_cast<int>(grpc_lite::StatusCode::kInvalidArgument));
  request.mutable_error_detail()->set_message(error.message);
  stream_->write(std::move(request));
  status_->update([](DiscoveryStatus::Values& v) { ++v.nacks; });
  sink_.reject({config::ConfigError{.file = stream_->address(),
                                    .object = std::string(response.type_url()),
                                    .reason = error.message}});
}

void DiscoverySource::Core::onResponse(ClientStream* stream, v1::DeltaDiscoveryResponse response) {
  if (stream != stream_.get()) return;
  if (!stream_answered_) {
    stream_answered_ = true;
    failures_ = 0;
    logInfo("discovery: connected to {}", stream->address());
  }
  status_->update([&](DiscoveryStatus::Values& v) {
    ++v.responses;
    v.connected = true;
    v.last_error.clear();
  });
  auto type = config::meshTypeFromUrl(response.type_url());
  if (!type) {
    nack(response, type.error());
    return;
  }
  awaiting_.erase(*type);
  if (auto decoded = decode(response, *type); !decoded) {
    nack(response, decoded.error());
  } else {
    dirty_ |= apply(response, *type, std::move(*decoded));
    v1::DeltaDiscoveryRequest ack;
    ack.set_node(options_.node);
    ack.set_type_url(response.type_url());
    ack.set_response_nonce(response.nonce());
    stream_->write(std::move(ack));
  }
  if (!awaiting_.empty()) return;  // publish only a whole mesh
  status_->update([](DiscoveryStatus::Values& v) { v.from_persisted = false; });
  if (!published_) {
    publishNow();
  } else if (dirty_) {
    schedulePublish();
  }
}

void DiscoverySource::Core::onStreamDone(ClientStream* stream,
                                         const grpc_lite::CallStatus& status) {
  if (stream != stream_.get()) return;
  stream_.reset();
  if (!stream_answered_) ++failures_;
  std::string why = describe(status, options_);
  std::chrono::milliseconds delay = nextBackoff();
  logWarn("discovery: stream to {} ended: {}; reconnecting in {} ms", stream->address(), why,
          delay.count());
  const char* reason = !stream_answered_ ? "ConnectionError" : status.ok() ? "Complete" : "Error";
  status_->update([&](DiscoveryStatus::Values& v) {
    v.connected = false;
    v.last_error = fmt::format("{}: {}", stream->address(), why);
    ++v.terminations[reason];
  });
  next_address_ = (next_address_ + 1) % options_.addresses.size();
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->connect();
  });
}

std::chrono::milliseconds DiscoverySource::Core::nextBackoff() {
  // Every address gets one quick try before the delay starts to grow.
  int rounds = failures_ / static_cast<int>(options_.addresses.size());
  auto ceiling = options_.initial_backoff;
  for (int i = 0; i < rounds && ceiling < options_.max_backoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, options_.max_backoff);
  std::uniform_int_distribution<int64_t> jitter(ceiling.count() / 2, ceiling.count());
  return std::chrono::milliseconds(jitter(rng_));
}

void DiscoverySource::Core::schedulePublish() {
  if (publish_pending_) return;
  publish_pending_ = true;
  publish_timer_.expires_after(options_.debounce);
  publish_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->publish_pending_ = false;
    if (self->dirty_) self->publishNow();
  });
}

void DiscoverySource::Core::publishNow() {
  std::shared_ptr<const v1::MeshSnapshot> snapshot = assembler_.build(store_, membership_);
  dirty_ = false;
  published_ = true;
  status_->update([](DiscoveryStatus::Values& v) {
    ++v.publishes;
    v.from_persisted = false;
  });
  sink_.publish(snapshot);
  if (!options_.snapshot_file.empty()) persistLater(std::move(snapshot));
}

void DiscoverySource::Core::persistLater(std::shared_ptr<const v1::MeshSnapshot> snapshot) {
  unpersisted_ = std::move(snapshot);
  if (persist_pending_) return;
  persist_pending_ = true;
  persist_timer_.expires_at(std::max(Clock::now(), last_persist_ + kPersistEvery));
  persist_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->persist_pending_ = false;
    self->persistNow();
  });
}

void DiscoverySource::Core::persistNow() {
  auto snapshot = std::exchange(unpersisted_, nullptr);
  if (!snapshot) return;
  last_persist_ = Clock::now();
  if (Status st = writeSnapshotFile(options_.snapshot_file, *snapshot); !st) {
    logError("discovery: persisting the snapshot: {}", st.message());
  }
}

void DiscoverySource::Core::publishPersisted() {
  auto age = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                              persisted_at_);
  logWarn(
      "discovery: no control plane reachable within {} ms ({}); running from the persisted "
      "snapshot {} written {} s ago",
      options_.persisted_after.count(), status_->get().last_error, options_.snapshot_file.string(),
      age.count());
  published_ = true;
  status_->update([](DiscoveryStatus::Values& v) {
    ++v.publishes;
    v.from_persisted = true;
  });
  sink_.publish(persisted_);
}

DiscoverySource::DiscoverySource(DiscoverySourceOptions options)
    : options_(std::move(options)), status_(std::make_shared<DiscoveryStatus>()) {}

DiscoverySource::~DiscoverySource() {
  if (core_) core_->stop();
}

Status DiscoverySource::start(boost::asio::io_context& config_io, config::ConfigSink& sink) {
  if (options_.addresses.empty()) {
    return makeError("discovery: no control-plane address (--discovery-address)");
  }
  auto core = std::make_shared<Core>(options_, status_, config_io, sink);
  AMBIT_TRY(core->begin());
  core_ = std::move(core);
  return Status::ok();
}

std::string DiscoverySource::name() const {
  return fmt::format("discovery {}", fmt::join(options_.addresses, ","));
}

}  // namespace ambit::discovery
