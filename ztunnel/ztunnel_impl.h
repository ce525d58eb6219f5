#pragma once
// The ztunnel's object graph, wired by ztunnel.cc and read by admin.cc: the components
// (OutboundProxy, InboundProxy, PodRegistry, ConnectionManager) over their production seams
// (CaptureMaps, NetnsSocketFactory, PoolTunnelDialer, ActiveConfig).
// Everything here is touched on the data thread only, except the admin servers (admin thread,
// reading through runOnDataThread) and the hand-off client (its own thread, via PodRegistry).

#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/admin/health_metrics.h"
#include "common/async/owned_io_context.h"
#include "common/config/directory_source.h"
#include "common/config/pipeline.h"
#include "common/discovery/client.h"
#include "common/hbone/client_pool.h"
#include "common/identity/identity_store.h"
#include "ztunnel/capture_maps.h"
#include "ztunnel/connection_limits.h"
#include "ztunnel/connection_manager.h"
#include "ztunnel/connection_tracker.h"
#include "ztunnel/handoff_client.h"
#include "ztunnel/inbound_proxy.h"
#include "ztunnel/metrics.h"
#include "ztunnel/outbound_proxy.h"
#include "ztunnel/pod_registry.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/tunnel_dialer.h"
#include "ztunnel/ztunnel.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel {

struct Ztunnel::Impl : std::enable_shared_from_this<Ztunnel::Impl> {
  explicit Impl(ZtunnelOptions o) : options(std::move(o)) {}

  Status start();
  void run();
  // SIGTERM: waits (up to options.successor_wait) for a successor to listen in every pod,
  // then drains.
  void beginDrain();
  void drainNow();
  boost::asio::awaitable<void> awaitSuccessor();

  // Data thread: swaps a configuration prepared on the config thread in and re-checks open
  // connections against it.
  void apply(std::shared_ptr<const ZtunnelConfig> config);

  // admin.cc (admin thread; reads via runOnDataThread)
  Status registerAdmin();
  std::string configDump();
  void refreshHealth();  // before each /metrics: hand-off and discovery state

  ZtunnelOptions options;
  // Set by the first SIGTERM (data thread); readiness reads it on the admin thread.
  std::atomic<bool> stopping{false};
  OwnedIoContext io;                 // data thread
  boost::asio::io_context admin_io;  // admin thread
  std::thread admin_thread;
  std::unique_ptr<CaptureMaps> capture;
  NetnsSocketFactory sockets;
  std::unique_ptr<identity::IdentityStore> identities;
  std::unique_ptr<hbone::HboneClientPool> pool;
  std::unique_ptr<PoolTunnelDialer> dialer;
  ActiveConfig active_config;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<admin::HealthMetrics> health = std::make_shared<admin::HealthMetrics>(*registry);
  std::shared_ptr<const discovery::DiscoveryStatus> discovery_status;  // null in local mode
  std::unique_ptr<TcpMetrics> metrics;
  ConnectionTracker tracker;
  std::unique_ptr<ConnectionLimits> limits;
  std::unique_ptr<OutboundProxy> outbound;
  std::unique_ptr<InboundProxy> inbound;
  std::unique_ptr<PodRegistry> pods;
  std::unique_ptr<ConnectionManager> connections;
  std::unique_ptr<admin::AdminServer> admin_server, metrics_server, ready_server;
  std::unique_ptr<HandoffClient> handoff;
  // Last: destroyed first, so apply() never runs on a half-destroyed Impl.
  std::unique_ptr<config::ConfigPipeline<ZtunnelConfig>> config;
};

}  // namespace ambit::ztunnel
