#include "common/discovery/server.h"

#include <grpc/grpc.h>
#include <grpcpp/alarm.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "ambit/v1/discovery.grpc.pb.h"
#include "common/discovery/delta_stream.h"
#include "common/log.h"
#include "common/unix_socket.h"

namespace ambit::discovery {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr auto kShutdownGrace = std::chrono::seconds(2);
constexpr int kMinPingMs = 10'000;
constexpr int kKeepaliveMs = 60'000;
constexpr int kKeepaliveTimeoutMs = 20'000;

bool holdsPem(const std::filesystem::path& file, std::string_view marker) {
  std::ifstream in(file);  // unreadable: empty
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return content.find(marker) != std::string::npos;
}

Result<std::shared_ptr<grpc::ServerCredentials>> serverCredentials(
    const std::string& address, const std::optional<ServerTls>& tls) {
  if (tls && !tls->cert_chain_pem.empty() && !tls->key_pem.empty()) {
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({tls->key_pem, tls->cert_chain_pem});
    return grpc::SslServerCredentials(ssl);
  }
  if (tls && !tls->cert_chain_file.empty() && !tls->key_file.empty()) {
    // Checked here: gRPC would start anyway and fail every handshake.
    if (!holdsPem(tls->cert_chain_file, "-----BEGIN CERTIFICATE-----")) {
      return makeError("discovery server on {}: no PEM certificate in {}", address,
                       tls->cert_chain_file.string());
    }
    if (!holdsPem(tls->key_file, "PRIVATE KEY-----")) {
      return makeError("discovery server on {}: no PEM private key in {}", address,
                       tls->key_file.string());
    }
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls->key_file.string(), tls->cert_chain_file.string(),
        static_cast<unsigned>(std::max<int64_t>(1, tls->refresh.count())));
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    return grpc::experimental::TlsServerCredentials(options);
  }
  return makeError("discovery server on {}: a TCP address needs a TLS certificate and key",
                   address);
}

// Prometheus families, one child per mesh type; with `istiod` also istiod's names for the same
// counts (pilot_xds, pilot_xds_pushes, pilot_total_xds_rejects).
struct Metrics {
  using PerType = std::array<prometheus::Counter*, config::kMeshTypes.size()>;
  PerType responses{};
  PerType nacks{};
  PerType pilot_pushes{};
  PerType pilot_rejects{};
  prometheus::Gauge* streams = nullptr;
  prometheus::Gauge* pilot_xds = nullptr;
  prometheus::Counter* refused = nullptr;

  static void perType(prometheus::Registry& registry, const char* name, const char* help,
                      PerType& out) {
    auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(registry);
    for (config::MeshType type : config::kMeshTypes) {
      out[static_cast<size_t>(type)] = &family.Add({{"type", std::string(config::typeName(type))}});
    }
  }

  void streamOpened() {
    streams->Increment();
    if (pilot_xds) pilot_xds->Increment();
  }
  void streamClosed() {
    streams->Decrement();
    if (pilot_xds) pilot_xds->Decrement();
  }
  void responded(config::MeshType type) {
    responses[static_cast<size_t>(type)]->Increment();
    if (auto* c = pilot_pushes[static_cast<size_t>(type)]) c->Increment();
  }
  void nacked(config::MeshType type) {
    nacks[static_cast<size_t>(type)]->Increment();
    if (auto* c = pilot_rejects[static_cast<size_t>(type)]) c->Increment();
  }

  Metrics(prometheus::Registry& registry, bool istiod) {
    if (istiod) {
      perType(registry, "pilot_xds_pushes", "Discovery responses pushed to clients, by type",
              pilot_pushes);
      perType(registry, "pilot_total_xds_rejects", "Discovery responses clients rejected, by type",
              pilot_rejects);
      pilot_xds = &prometheus::BuildGauge()
                       .Name("pilot_xds")
                       .Help("Number of endpoints connected to this pilot using XDS")
                       .Register(registry)
                       .Add({});
    }
    auto& responses_family = prometheus::BuildCounter()
                                 .Name("ambit_discovery_responses_total")
                                 .Help("Delta discovery responses sent, by resource type")
                                 .Register(registry);
    auto& nacks_family = prometheus::BuildCounter()
                             .Name("ambit_discovery_nacks_total")
                             .Help("Delta discovery responses rejected by clients, by type")
                             .Register(registry);
    for (config::MeshType type : config::kMeshTypes) {
      std::map<std::string, std::string> labels{{"type", std::string(config::typeName(type))}};
      responses[static_cast<size_t>(type)] = &responses_family.Add(labels);
      nacks[static_cast<size_t>(type)] = &nacks_family.Add(labels);
    }
    streams = &prometheus::BuildGauge()
                   .Name("ambit_discovery_streams")
                   .Help("Open delta discovery streams")
                   .Register(registry)
                   .Add({});
    refused = &prometheus::BuildCounter()
                   .Name("ambit_discovery_streams_refused_total")
                   .Help("Delta discovery streams refused by authentication")
                   .Register(registry)
                   .Add({});
  }
};

}  // namespace

// Runs closures from any thread on the completion-queue thread (what asio's post() does for an
// io_context): one alarm, re-armed while closures are queued.
class CqPoster final : public internal::CqTag {
 public:
  void open(grpc::ServerCompletionQueue* cq) {
    std::lock_guard lock(mu_);
    cq_ = cq;
  }
  // Runs `fn` now unless the queue is closed, with close() held off until it returns.
  bool whileOpen(const std::function<void()>& fn) {
    std::lock_guard lock(mu_);
    if (cq_ == nullptr) return false;
    fn();
    return true;
  }
  void post(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    if (cq_ == nullptr) return;  // not serving, or shutting down
    queue_.push_back(std::move(fn));
    if (armed_) return;
    armed_ = true;
    alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), static_cast<internal::CqTag*>(this));
  }
  // Drops what is queued and refuses more; call before the queue shuts down.
  void close() {
    std::vector<std::function<void()>> dropped;
    std::lock_guard lock(mu_);
    cq_ = nullptr;
    dropped.swap(queue_);
  }
  void complete(bool) override {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mu_);
      run.swap(queue_);
      armed_ = false;
    }
    for (auto& fn : run) fn();
  }

 private:
  std::mutex mu_;
  grpc::ServerCompletionQueue* cq_ = nullptr;  // guarded by mu_
  std::vector<std::function<void()>> queue_;
  bool armed_ = false;
  grpc::Alarm alarm_;
};

struct DiscoveryServer::Impl final : public internal::StreamHost,
                                     public std::enable_shared_from_this<Impl> {
  std::shared_ptr<ResourceStore> store_;
  DiscoveryServerOptions options_;
  std::string address_;
  int port_ = 0;
  v1::DiscoveryService::AsyncService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  CqPoster poster_;
  std::thread thread_;  // polls cq_ and runs every stream's logic
  std::unique_ptr<grpc::Server> server_;
  std::optional<ResourceStore::ListenerId> listener_;
  bool shut_down_ = false;  // shutdown() ran
  std::atomic<bool> push_queued_{false};
  // Call requests given to gRPC and not yet back: the queue may shut down only at zero (gRPC
  // finishes accepting a call inside Next(), where it starts an operation on the queue).
  std::atomic<bool> accepting_{false};
  std::mutex requests_mu_;
  std::condition_variable requests_cv_;
  int requests_out_ = 0;  // guarded by requests_mu_
  std::mutex streams_mu_;
  std::set<std::shared_ptr<internal::DeltaStream>> streams_;  // guarded by streams_mu_
  std::optional<Metrics> metrics_;
  std::atomic<uint64_t> active_{0}, refused_{0}, requests_{0}, responses_{0}, acks_{0}, nacks_{0};

  void post(std::function<void()> fn) override { poster_.post(std::move(fn)); }
  bool startOp(const std::function<void()>& start) override { return poster_.whileOpen(start); }
  void listenNext() override {
    if (!accepting_) return;
    if (startOp([this] {
          internal::DeltaStream::listen(*this, weak_from_this(), service_, *cq_,
                                        *options_.authenticator);
        })) {
      std::lock_guard lock(requests_mu_);
      ++requests_out_;
    }
  }
  void requestReturned() override {
    std::lock_guard lock(requests_mu_);
    --requests_out_;
    requests_cv_.notify_all();
  }
  ResourceStore& store() override { return *store_; }
  void streamStarted(std::shared_ptr<internal::DeltaStream> stream) override {
    {
      std::lock_guard lock(streams_mu_);
      streams_.insert(std::move(stream));
    }
    ++active_;
    if (metrics_) metrics_->streamOpened();
  }
  void streamEnded(const std::shared_ptr<internal::DeltaStream>& stream) override {
    {
      std::lock_guard lock(streams_mu_);
      if (streams_.erase(stream) == 0) return;
    }
    --active_;
    if (metrics_) metrics_->streamClosed();
  }
  void streamRefused() override {
    ++refused_;
    if (metrics_) metrics_->refused->Increment();
  }
  void responded(config::MeshType type) override {
    ++responses_;
    if (metrics_) metrics_->responded(type);
  }
  void requested() override { ++requests_; }
  void acked(config::MeshType) override { ++acks_; }
  void nacked(config::MeshType type) override {
    ++nacks_;
    if (metrics_) metrics_->nacked(type);
  }

  std::vector<std::shared_ptr<internal::DeltaStream>> liveStreams() {
    std::lock_guard lock(streams_mu_);
    return {streams_.begin(), streams_.end()};
  }

  // Any thread: a change in the store. Under churn one push pass is queued at a time; it runs
  // on the queue thread, so a producer calling ResourceStore::update() never builds responses.
  void storeChanged() {
    if (push_queued_.exchange(true)) return;
    post([this] {
      push_queued_ = false;
      for (const auto& stream : liveStreams()) stream->trySend();
    });
  }

  // The queue thread: every completion runs the operation's handler.
  void run() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) static_cast<internal::CqTag*>(tag)->complete(ok);
  }

  Status listen();
  void shutdown();
};

Status DiscoveryServer::Impl::listen() {
  const std::string& address = options_.address;
  bool unix = std::string_view(address).starts_with(kUnixPrefix);
  std::shared_ptr<grpc::ServerCredentials> creds;
  std::filesystem::path socket_path;
  if (unix) {
    socket_path = address.substr(kUnixPrefix.size());
    AMBIT_TRY(prepareUnixSocketPath(socket_path));
    creds = grpc::InsecureServerCredentials();
  } else {
    auto tls = serverCredentials(address, options_.tls);
    if (!tls) return tls.error();
    creds = std::move(*tls);
  }
  grpc::ServerBuilder builder;
  // Clients ping quiet streams every 30 s (client.cc); find dead clients within minutes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, kMinPingMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  // Requests are small ACKs: no bandwidth probing (its PINGs cost a wake-up per message).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddListeningPort(address, creds, unix ? nullptr : &port_);
  builder.RegisterService(&service_);
  for (grpc::Service* service : options_.extra_services) builder.RegisterService(service);
  cq_ = builder.AddCompletionQueue();
  server_ = builder.BuildAndStart();
  if (!server_ || (!unix && port_ == 0)) {
    return makeError(
        "start discovery server on {}: gRPC could not listen (address in use, or "
        "an invalid certificate or key?)",
        address);
  }
  if (unix) {
    if (::chmod(socket_path.c_str(), 0660) != 0) {
      return errnoError(fmt::format("chmod {}", socket_path.string()));
    }
    address_ = address;
  } else {
    address_ = fmt::format("{}:{}", address.substr(0, address.rfind(':')), port_);
  }
  poster_.open(cq_.get());
  accepting_ = true;
  listenNext();
  thread_ = std::thread([this] { run(); });
  logInfo("DiscoveryService listening on {}", address_);
  return Status::ok();
}

void DiscoveryServer::Impl::shutdown() {
  if (std::exchange(shut_down_, true)) return;
  if (listener_) store_->unsubscribe(*std::exchange(listener_, std::nullopt));
  if (server_) {
    // Streams never end by themselves: end them now (clients reconnect elsewhere), then give
    // other calls (certificate requests) a grace period. No new call is asked for.
    accepting_ = false;
    post([this] {
      for (const auto& stream : liveStreams()) {
        stream->finish(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "discovery server shutting down"));
      }
    });
    server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    server_->Wait();
    // The request still out comes back (cancelled, or a call accepted just before).
    std::unique_lock lock(requests_mu_);
    requests_cv_.wait_for(lock, kShutdownGrace, [this] { return requests_out_ <= 0; });
  }
  if (cq_) {
    // After the server: every operation has completed or is cancelled; drain them.
    poster_.close();
    cq_->Shutdown();
    if (thread_.joinable()) {
      thread_.join();
    } else {
      run();  // never served (listen failed): drain here
    }
  }
  std::lock_guard lock(streams_mu_);
  streams_.clear();
}

DiscoveryServer::DiscoveryServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

DiscoveryServer::~DiscoveryServer() { shutdown(); }

Result<std::unique_ptr<DiscoveryServer>> DiscoveryServer::start(
    std::shared_ptr<ResourceStore> store, DiscoveryServerOptions options) {
  if (!store) return makeError("discovery server: no resource store");
  if (!options.authenticator) return makeError("discovery server: no authenticator");
  auto impl = std::make_shared<Impl>();
  impl->store_ = std::move(store);
  impl->options_ = std::move(options);
  if (impl->options_.metrics) {
    impl->metrics_.emplace(*impl->options_.metrics, impl->options_.istiod_metrics);
  }
  std::unique_ptr<DiscoveryServer> server(new DiscoveryServer(impl));
  AMBIT_TRY(impl->listen());
  impl->listener_ = impl->store_->subscribe([raw = impl.get()] { raw->storeChanged(); });
  return server;
}

void DiscoveryServer::shutdown() { impl_->shutdown(); }
const std::string& DiscoveryServer::address() const { return impl_->address_; }
int DiscoveryServer::port() const { return impl_->port_; }

DiscoveryServerStats DiscoveryServer::stats() const {
  return DiscoveryServerStats{.streams_active = impl_->active_,
                              .streams_refused = impl_->refused_,
                              .requests = impl_->requests_,
                              .responses = impl_->responses_,
                              .acks = impl_->acks_,
                              .nacks = impl_->nacks_};
}

}  // namespace ambit::discovery
