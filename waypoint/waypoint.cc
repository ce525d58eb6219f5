#include "waypoint/waypoint.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/admin/health_metrics.h"
#include "common/admin/metrics.h"
#include "common/admin/process_metrics.h"
#include "common/async/owned_io_context.h"
#include "common/async/spawn.h"
#include "common/config/pipeline.h"
#include "common/discovery/channel.h"
#include "common/discovery/grpc_client_stream.h"
#include "common/discovery/mesh_source.h"
#include "common/identity/ca_client.h"
#include "common/identity/identity_store.h"
#include "common/log.h"
#include "waypoint/jwks_cache.h"
#include "waypoint/metrics.h"
#include "waypoint/span_exporter.h"

namespace ambit::waypoint {

struct Waypoint::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(WaypointOptions o) : options(std::move(o)) {}
  Status start();
  Status startIdentity();
  Status startTracing();
  discovery::MeshSourceOptions meshSource() const;
  Status startConfig();
  Status startServer();
  Status startAdmin();
  void onConfig(std::shared_ptr<const MeshIndex> prepared);
  asio::awaitable<hbone::ConnectOutcome> onConnect(const hbone::ConnectRequest& req);
  void onRequest(const RequestRecord& rec);
  asio::awaitable<void> awaitShutdownDelay();
  void drain();

  WaypointOptions options;
  std::string identity;
  OwnedIoContext io{1};
  asio::io_context admin_io{1};
  std::thread admin_thread;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<admin::HealthMetrics> health = std::make_shared<admin::HealthMetrics>(*registry);
  // HBONE both ways (server and upstream pool): ambit_hbone_timeouts_total{reason}.
  std::function<void(hbone::HboneTimeout)> on_hbone_timeout =
      [count = admin::hboneTimeoutCounter(*registry)](hbone::HboneTimeout t) {
        count(hbone::timeoutReason(t));
      };
  std::shared_ptr<const discovery::DiscoveryStatus> discovery_status;  // null in local mode
  std::unique_ptr<HttpMetrics> metrics;
  std::vector<std::unique_ptr<SpanExporter>> tracers;  // Zipkin and/or OTLP
  std::unique_ptr<identity::IdentityStore> identities;
  std::unique_ptr<config::ConfigPipeline<MeshIndex>> config;
  std::shared_ptr<const MeshIndex> index;  // data thread
  std::unique_ptr<hbone::HboneClientPool> pool;
  std::unique_ptr<UpstreamPool> upstream;
  std::unique_ptr<Router> router;
  std::unique_ptr<JwksCache> jwks;
  std::unique_ptr<RequestAuthenticator> authn;
  std::unique_ptr<HttpProxy> proxy;
  std::unique_ptr<hbone::HboneServer> server;
  // The bound, listening 15008 socket until the waypoint's certificate is installed.
  std::unique_ptr<asio::ip::tcp::acceptor> hbone_pending;
  std::unique_ptr<admin::AdminServer> metrics_server;
  std::unique_ptr<admin::AdminServer> ready_server;
  std::atomic<bool> config_loaded{false};
  std::atomic<bool> stopping{false};
  uint16_t hbone_port = 0;
};

discovery::MeshSourceOptions Waypoint::Impl::meshSource() const {
  discovery::MeshSourceOptions m;
  m.config_dir = options.config_dir;
  m.discovery_address = options.discovery_address;
  m.control_ca = options.control_ca;
  m.token_file = options.token_file;
  m.node = options.node.empty() ? options.gateway.ns + "/" + options.gateway.name : options.node;
  m.trust_domain = options.trust_domain;
  m.streams = discovery::grpcStreams();  // ambit-control over TLS
  return m;
}

Status Waypoint::Impl::start() {
  AMBIT_TRY(discovery::validateMeshSource(meshSource()));
  if (options.ca_address.empty()) return makeError("--ca-address is required");
  auto id =
      identity::SpiffeId::make(options.trust_domain, options.gateway.ns, options.service_account);
  if (!id) return id.error().context("waypoint identity");
  identity = id->toString();
  metrics = std::make_unique<HttpMetrics>(*registry);
  AMBIT_TRY(startTracing());
  AMBIT_TRY(startIdentity());
  AMBIT_TRY(startConfig());
  AMBIT_TRY(startServer());
  return startAdmin();
}

Status Waypoint::Impl::startTracing() {
  TraceResource resource;
  resource.service_name = options.gateway.name + "." + options.gateway.ns;
  resource.service_version = admin::ambitVersion();
  resource.namespace_name = options.gateway.ns;
  if (!options.zipkin_address.empty()) {
    auto collector = zipkinCollector(options.zipkin_address);
    if (!collector) return collector.error().context("--zipkin-address");
    tracers.push_back(
        std::make_unique<SpanExporter>(io.get_executor(), std::move(*collector), resource));
  }
  if (!options.otlp_endpoint.empty()) {
    auto collector = otlpCollector(options.otlp_endpoint);
    if (!collector) return collector.error().context("--otlp-endpoint");
    tracers.push_back(
        std::make_unique<SpanExporter>(io.get_executor(), std::move(*collector), resource));
  }
  return Status::ok();
}

Status Waypoint::Impl::startIdentity() {
  auto ca = discovery::certificateClient(options.ca_address, meshSource());
  if (!ca) return ca.error();
  identity::CertificateManagerOptions cm;
  cm.requestedTtl = std::chrono::seconds(options.cert_ttl_seconds);
  identities = std::make_unique<identity::IdentityStore>(io, *ca, cm, options.trust_domain);
  identities->observeCertificates([health = health](const std::string& id, auto not_after) {
    health->certificate(id, not_after);
  });
  auto id = identity::SpiffeId::parse(identity);
  if (!id) return id.error();
  identities->acquire(*id);
  hbone::PoolOptions pool_options;
  pool_options.http2.send_stall_timeout = options.http2_send_stall_timeout;
  pool_options.on_timeout = on_hbone_timeout;
  pool = std::make_unique<hbone::HboneClientPool>(io.get_executor(), identities->peerVerifier(),
                                                  pool_options);
  upstream = std::make_unique<UpstreamPool>(
      *pool,
      [this]() {
        auto tls = identities->tls(identity);
        bool ready = tls && identities->ready(identity);
        return UpstreamCredentials{identity, ready ? tls->client : nullptr};
      },
      options.limits);
  router = std::make_unique<Router>();
  router->setLoadProbe([this](const v1::Workload& w) {
    if (w.addresses().empty()) return size_t{0};
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(w.addresses(0), ec);
    return ec ? size_t{0} : upstream->activeRequests(ip);
  });
  JwksFetchOptions jwks_options;
  jwks_options.refresh_interval = options.jwks_refresh_interval;
  jwks = std::make_unique<JwksCache>(io.get_executor(), jwks_options);
  authn = std::make_unique<RequestAuthenticator>(jwks.get());
  ProxyServices services;
  services.index = [this]() { return index; };
  services.authn = authn.get();
  services.router = router.get();
  services.upstream = upstream.get();
  services.gateway = options.gateway;
  services.limits = options.limits;
  services.http2_header_timeout = options.http2_header_timeout;
  services.on_request = [this](const RequestRecord& rec) { onRequest(rec); };
  proxy = std::make_unique<HttpProxy>(std::move(services));
  return Status::ok();
}

// Reading, translating and indexing a version happen on the pipeline's config thread; the
// data thread only swaps the index in.
Status Waypoint::Impl::startConfig() {
  auto source = discovery::meshConfigSource(meshSource());
  if (!source) return source.error();
  discovery_status = discovery::discoveryStatus(**source);
  auto p = config::ConfigPipeline<MeshIndex>::start(
      io.get_executor(), std::move(*source),
      {.prepare = [](const config::SnapshotPtr& s) { return MeshIndex::build(s); },
       .apply = [this](std::shared_ptr<const MeshIndex> i) { onConfig(std::move(i)); },
       .on_rejected = [this](const config::ConfigErrors&) { health->configRejected(); }});
  if (!p) return p.error();
  config = std::move(*p);
  return Status::ok();
}

void Waypoint::Impl::onConfig(std::shared_ptr<const MeshIndex> prepared) {
  index = std::move(prepared);
  config_loaded = true;
  const v1::MeshSnapshot& s = index->snapshot();
  health->configApplied(s.version());
  logInfo(
      "config version {}: {} services, {} route tables, {} authorization policies, {} request "
      "authentications",
      s.version(), s.services_size(), s.route_tables_size(), s.authorization_policies_size(),
      s.request_authentications_size());
}

asio::awaitable<hbone::ConnectOutcome> Waypoint::Impl::onConnect(const hbone::ConnectRequest& req) {
  if (!index || !index->serviceByVip(req.target.address())) {
    logDebug("waypoint: CONNECT {} from {}: not a service VIP", req.authority, req.peer_identity);
    co_return 400;
  }
  co_return hbone::TerminateTunnel{[self = shared_from_this(), req](hbone::HboneStream s) {
    return self->proxy->serveTunnel(req, std::move(s));
  }};
}

void Waypoint::Impl::onRequest(const RequestRecord& rec) {
  metrics->record(rec);
  if (!tracers.empty() && rec.sampled) {
    const Span server = spanFor(rec);
    const std::optional<Span> client = upstreamSpanFor(rec);
    for (auto& t : tracers) {
      t->add(server);
      if (client) t->add(*client);
    }
  }
  if (options.access_log != admin::AccessLogFormat::kOff)
    admin::writeAccessLog(accessLogRecord(rec), options.access_log);
}

Status Waypoint::Impl::startServer() {
  auto tls = identities->tls(identity);
  if (!tls) return makeError("no TLS context for {}", identity);
  hbone::ServerOptions server_options;
  server_options.on_accept_exhausted = admin::acceptExhaustedCounter(*registry, "hbone");
  server_options.http2.header_timeout = options.http2_header_timeout;
  server_options.http2.send_stall_timeout = options.http2_send_stall_timeout;
  server_options.on_timeout = on_hbone_timeout;
  server = std::make_unique<hbone::HboneServer>(
      io.get_executor(), *tls->server, identities->peerVerifier(),
      [this](const hbone::ConnectRequest& r) { return onConnect(r); }, server_options);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(options.listen_address, ec);
  if (ec) return makeError("--listen '{}': not an IP address", options.listen_address);
  asio::ip::tcp::acceptor acceptor(io);
  asio::ip::tcp::endpoint ep(addr, options.hbone_port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Error{ec.value(),
                 fmt::format("HBONE listen {}: {}", hbone::formatAuthority(ep), ec.message())};
  hbone_port = acceptor.local_endpoint().port();
  if (identities->ready(identity)) return server->listen(std::move(acceptor));
  // Until the certificate is there, connections wait in the kernel's backlog instead of failing
  // a handshake the waypoint cannot complete yet (as the ztunnel holds a new pod's 15008).
  hbone_pending = std::make_unique<asio::ip::tcp::acceptor>(std::move(acceptor));
  spawn(
      io,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        asio::steady_timer t(self->io);
        while (!self->stopping && !self->identities->ready(self->identity)) {
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(asio::use_awaitable);
        }
        if (self->stopping) co_return;
        auto st = self->server->listen(std::move(*self->hbone_pending));
        self->hbone_pending.reset();
        if (!st) logError("waypoint: HBONE listener: {}", st.message());
      },
      "waypoint HBONE start");
  return Status::ok();
}

Status Waypoint::Impl::startAdmin() {
  metrics_server = std::make_unique<admin::AdminServer>(admin_io);
  ready_server = std::make_unique<admin::AdminServer>(admin_io);
  metrics_server->route("/metrics", admin::metricsHandler(registry, [this] {
                          if (!discovery_status) return;
                          auto v = discovery_status->get();
                          health->xdsState(v.connected, v.terminations);
                        }));
  std::weak_ptr<Impl> weak = weak_from_this();
  ready_server->route("/healthz/ready", admin::readinessHandler([weak] {
                        auto self = weak.lock();
                        return self && self->config_loaded && !self->stopping && self->identities &&
                               self->identities->ready(self->identity);
                      }));
  AMBIT_TRY(metrics_server->listen(options.stats_address, options.metrics_port));
  return ready_server->listen(options.stats_address, options.readiness_port);
}

Result<std::unique_ptr<Waypoint>> Waypoint::create(WaypointOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  AMBIT_TRY(impl->start());
  return std::unique_ptr<Waypoint>(new Waypoint(std::move(impl)));
}

Waypoint::~Waypoint() {
  if (impl_->metrics_server) impl_->metrics_server->stop();
  if (impl_->ready_server) impl_->ready_server->stop();
  impl_->admin_io.stop();
  if (impl_->admin_thread.joinable()) impl_->admin_thread.join();
  impl_->io.destroyPendingWork();  // also when run() never ran: before the members it uses
}

void Waypoint::run() {
  impl_->admin_thread = std::thread([impl = impl_] {
    auto guard = asio::make_work_guard(impl->admin_io);
    impl->admin_io.run();
  });
  auto guard = asio::make_work_guard(impl_->io);
  impl_->io.run();
  guard.reset();
  // What outlived the drain (a stream still waiting on its upstream) holds this Impl through
  // shared_from_this(): destroyed here, or neither would ever be freed (owned_io_context.h).
  impl_->io.destroyPendingWork();
}

void Waypoint::stop() {
  asio::post(impl_->io, [impl = impl_] {
    if (impl->stopping.exchange(true)) return;
    if (impl->options.shutdown_delay.count() == 0) return impl->drain();
    logInfo("shutdown delay: not ready, still serving new connections for {}ms",
            impl->options.shutdown_delay.count());
    spawn(impl->io, impl->awaitShutdownDelay(), "waypoint shutdown delay",
          [impl](bool) { impl->drain(); });
  });
}

asio::awaitable<void> Waypoint::Impl::awaitShutdownDelay() {
  asio::steady_timer timer(io, options.shutdown_delay);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void Waypoint::Impl::drain() {
  logInfo("draining: open tunnels have {}ms", options.drain_deadline.count());
  auto deadline = std::chrono::steady_clock::now() + options.drain_deadline;
  spawn(
      io,
      [self = shared_from_this(), deadline]() -> asio::awaitable<void> {
        self->proxy->drain();
        co_await self->server->drain(deadline);
        self->pool->close();
        self->tracers.clear();
        self->config.reset();
      },
      "waypoint drain",
      // Also when the drain failed (logged): run() returns instead of waiting for the kill.
      [self = shared_from_this()](bool) { self->io.stop(); });
}

uint16_t Waypoint::hbonePort() const { return impl_->hbone_port; }
uint16_t Waypoint::metricsPort() const { return impl_->metrics_server->port(); }
uint16_t Waypoint::readinessPort() const { return impl_->ready_server->port(); }

}  // namespace ambit::waypoint
