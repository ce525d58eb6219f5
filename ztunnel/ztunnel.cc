#include "ztunnel/ztunnel.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

#include "common/admin/metrics.h"
#include "common/async/spawn.h"
#include "common/discovery/lite_client_stream.h"
#include "common/discovery/mesh_source.h"
#include "common/grpc_lite/call.h"
#include "common/hbone/byte_queue.h"
#include "common/heap_trim.h"
#include "common/http2/connection.h"
#include "common/identity/lite_ca_client.h"
#include "common/log.h"
#include "ztunnel/ztunnel_impl.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;

namespace {
constexpr auto kAgentWait = std::chrono::seconds(60);
constexpr auto kSuccessorPoll = std::chrono::milliseconds(100);
constexpr auto kHeapDecay = std::chrono::seconds(10);
// Buffer caches this full held a bulk transfer's buffers (each cache holds up to ~1 MB).
constexpr size_t kBurstCacheBytes = 512u << 10;
}  // namespace

// The ztunnel takes its mesh from local files or from its node agent's relay (never from
// ambit-control directly: the agent is the node's one client of the control plane).
discovery::MeshSourceOptions meshSource(const ZtunnelOptions& o) {
  discovery::MeshSourceOptions m;
  m.config_dir = o.config_dir;
  m.discovery_address = o.discovery_address;
  m.node = o.node;
  m.trust_domain = o.trust_domain;
  m.streams = discovery::liteStreams();  // the agent's relay socket, without gRPC's runtime
  return m;
}

Status finalizeOptions(ZtunnelOptions& o) {
  if (o.node.empty()) return makeError("--node is required");
  // Never ambit-control itself: the ztunnel has no TLS client for it (nor gRPC's runtime).
  if (!o.discovery_address.empty() && !grpc_lite::isUnixSocketAddress(o.discovery_address)) {
    return makeError(
        "--discovery-address {}: the ztunnel takes its mesh from its node agent's relay, a unix "
        "socket (unix:/run/ambit/NODE/discovery.sock)",
        o.discovery_address);
  }
  AMBIT_TRY(discovery::validateMeshSource(meshSource(o)));
  if (o.pin_dir.empty()) o.pin_dir = std::string(AMBIT_PIN_ROOT) + "/" + o.node;
  if (o.run_dir.empty()) o.run_dir = "/run/ambit/" + o.node;
  if (o.connection_caps.per_pod == 0 || o.connection_caps.per_node == 0) {
    return makeError("--max-connections-per-pod and --max-connections-per-node must be > 0");
  }
  if (o.cert_ttl_seconds < 10)
    return makeError("--cert-ttl {}s is too short (minimum 10s)", o.cert_ttl_seconds);
  return Status::ok();
}

Status Ztunnel::Impl::start() {
  // The agent creates the pinned maps; on a fresh node the ztunnel may start first.
  auto cap = CaptureMaps::open(options.pin_dir, kAgentWait);
  if (!cap) return cap.error();
  capture = std::move(*cap);

  identity::LiteCaClientOptions ca_opts;
  ca_opts.address = "unix:" + options.run_dir + "/ca.sock";
  ca_opts.node = options.node;
  auto ca = std::make_shared<identity::LiteCaClient>(io.get_executor(), ca_opts);
  identity::CertificateManagerOptions cm;
  cm.requestedTtl = std::chrono::seconds(options.cert_ttl_seconds);
  identities = std::make_unique<identity::IdentityStore>(io, ca, cm, options.trust_domain);
  identities->observeCertificates([health = health](const std::string& id, auto not_after) {
    health->certificate(id, not_after);
  });

  std::function<void(hbone::HboneTimeout)> on_hbone_timeout =
      [count = admin::hboneTimeoutCounter(*registry)](hbone::HboneTimeout t) {
        count(hbone::timeoutReason(t));
      };
  hbone::PoolOptions pool_opts;
  pool_opts.socket_mark = AMBIT_SOCKET_MARK;
  pool_opts.http2.send_stall_timeout = options.http2_send_stall_timeout;
  pool_opts.on_timeout = on_hbone_timeout;
  pool = std::make_unique<hbone::HboneClientPool>(io.get_executor(), identities->peerVerifier(),
                                                  pool_opts);
  dialer = std::make_unique<PoolTunnelDialer>(*pool);
  metrics = std::make_unique<TcpMetrics>(*registry, health.get());

  outbound = std::make_unique<OutboundProxy>(io, *capture, sockets, *dialer, active_config,
                                             *metrics, options.access_log);
  inbound = std::make_unique<InboundProxy>(io, *capture, sockets, active_config, *metrics, tracker,
                                           options.access_log);
  limits = std::make_unique<ConnectionLimits>(options.connection_caps, registry.get());
  PodRegistry::Options pod_opts;
  pod_opts.trust_domain = options.trust_domain;
  pod_opts.handshake_timeout = options.handshake_timeout;
  pod_opts.http2_header_timeout = options.http2_header_timeout;
  pod_opts.http2_send_stall_timeout = options.http2_send_stall_timeout;
  pod_opts.on_hbone_timeout = on_hbone_timeout;
  pod_opts.limits = limits.get();
  pod_opts.registry = registry.get();
  pods = std::make_unique<PodRegistry>(io, pod_opts, sockets, *capture, *identities, *outbound,
                                       *inbound);
  connections = std::make_unique<ConnectionManager>(io, tracker, *pods, *outbound);

  // Reading, translating, indexing and compiling policies run on the pipeline's config thread;
  // the data thread only swaps the result in (apply).
  auto source = discovery::meshConfigSource(meshSource(options));
  if (!source) return source.error();
  discovery_status = discovery::discoveryStatus(**source);
  auto p = config::ConfigPipeline<ZtunnelConfig>::start(
      io.get_executor(), std::move(*source),
      {.prepare = [](const config::SnapshotPtr& s) -> Result<std::shared_ptr<const ZtunnelConfig>> {
         auto c = prepareConfig(s);
         if (!c) return c.error();
         return std::make_shared<const ZtunnelConfig>(std::move(*c));
       },
       .apply = [this](std::shared_ptr<const ZtunnelConfig> c) { apply(std::move(c)); },
       .on_rejected = [this](const config::ConfigErrors&) { health->configRejected(); }});
  if (!p) return p.error();
  config = std::move(*p);

  AMBIT_TRY(registerAdmin());
  // Heap decay (common/heap_trim.h): the data thread lets go of its buffer caches, the admin
  // thread returns what sits free in malloc's arenas (in a quiet period, or one whose load
  // fell); a burst's memory goes back to the kernel within two periods instead of staying
  // resident. When the caches held a bulk transfer's buffers and the load has fallen since (the
  // transfer ended), the trim follows at once: the admin thread's check may have just passed,
  // and a ztunnel that goes on carrying lighter traffic would keep them another period
  // (BENCHMARKS.md, session 13). A transfer still running refills the caches every period and
  // is left alone (the same load test as the admin thread's).
  startHeapTrim(admin_io.get_executor(), {.period = kHeapDecay});
  spawn(
      io,
      [executor = io.get_executor(), admin = admin_io.get_executor()]() -> asio::awaitable<void> {
        asio::steady_timer timer(executor);
        TrimLoadGate gate(HeapTrimOptions{});
        const double period = std::chrono::duration<double>(kHeapDecay).count();
        double cpu_before = processCpuSeconds();
        for (;;) {
          timer.expires_after(kHeapDecay);
          co_await timer.async_wait(asio::use_awaitable);
          const double cpu_now = processCpuSeconds();
          const bool load_fell = gate.allows((cpu_now - cpu_before) / period);
          cpu_before = cpu_now;
          const size_t released = http2::Connection::releaseCachedBatches() +
                                  hbone::detail::ByteQueue::releaseCachedBlocks();
          if (load_fell && released >= kBurstCacheBytes) {
            asio::post(admin, [] { trimHeapIfWorthIt(HeapTrimOptions{}.min_free); });
          }
        }
      },
      "buffer cache decay");
  handoff = std::make_unique<HandoffClient>(options.run_dir + "/ztunnel.sock", *pods);
  handoff->start();
  return Status::ok();
}

void Ztunnel::Impl::apply(std::shared_ptr<const ZtunnelConfig> config) {
  const v1::MeshSnapshot& s = config->state->snapshot();
  logInfo("config version {}: {} workloads, {} services, {} authorization policies", s.version(),
          s.workloads_size(), s.services_size(), s.authorization_policies_size());
  health->configApplied(s.version());
  active_config.set(std::move(config));
  connections->recheck(*active_config.current());
}

void Ztunnel::Impl::run() {
  admin_thread = std::thread([this] {
    auto guard = asio::make_work_guard(admin_io);
    admin_io.run();
  });
  // The data loop may have nothing to do (no pod handed over yet: config arrives on the
  // pipeline's thread, hand-off on its own); it runs until the drain stops it.
  auto guard = asio::make_work_guard(io);
  io.run();
  admin_io.stop();
  if (admin_thread.joinable()) admin_thread.join();
  io.destroyPendingWork();  // what outlived the drain, and holds this Impl (owned_io_context.h)
}

void Ztunnel::Impl::beginDrain() {
  if (stopping.exchange(true)) return;
  // Not stop(): this is the data thread, and the hand-off thread may be waiting for it to open
  // a pod the new agent just handed over; joining here stalled the data loop for the 10 s of
  // that call's timeout, and every new connection with it (a DaemonSet roll). ~Ztunnel joins.
  handoff->requestStop();
  if (options.successor_wait.count() == 0) return drainNow();
  spawn(io, awaitSuccessor(), "successor wait",
        [self = shared_from_this()](bool) { self->drainNow(); });
}

asio::awaitable<void> Ztunnel::Impl::awaitSuccessor() {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options.successor_wait;
  asio::steady_timer poll(io);
  for (;;) {
    size_t waiting = pods->podsAwaitingSuccessor();
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (waiting == 0) {
      logInfo("a successor listens in all {} pods after {} ms: draining", pods->pods().size(),
              waited.count());
      co_return;
    }
    std::error_code ec;
    if (!std::filesystem::exists(options.pin_dir, ec)) {
      logInfo("the agent removed the node's capture (uninstall): no successor will come");
      co_return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      logWarn("no successor in {} of {} pods after {} ms: draining anyway", waiting,
              pods->pods().size(), waited.count());
      co_return;
    }
    poll.expires_after(kSuccessorPoll);
    co_await poll.async_wait(asio::use_awaitable);
  }
}

void Ztunnel::Impl::drainNow() {
  if (connections->draining()) return;
  connections->beginDrain(std::chrono::steady_clock::now() + options.drain_deadline,
                          [self = shared_from_this()] {
                            self->pool->close();
                            self->identities.reset();
                            self->config.reset();
                            self->io.stop();
                          });
}

Ztunnel::Ztunnel(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ztunnel::~Ztunnel() {
  if (impl_->handoff) impl_->handoff->stop();
  impl_->io.destroyPendingWork();  // also when run() never ran: before the members it uses
}

Result<std::unique_ptr<Ztunnel>> Ztunnel::create(ZtunnelOptions options) {
  AMBIT_TRY(finalizeOptions(options));
  auto impl = std::make_shared<Impl>(std::move(options));
  AMBIT_TRY(impl->start());
  return std::unique_ptr<Ztunnel>(new Ztunnel(std::move(impl)));
}

void Ztunnel::run() { impl_->run(); }

void Ztunnel::requestDrain() {
  asio::post(impl_->io, [impl = impl_] { impl->beginDrain(); });
}

}  // namespace ambit::ztunnel
