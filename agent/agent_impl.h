#pragma once
// Agent internals shared by agent.cc (start-up, reconcile) and agent_admin.cc (metrics, dumps).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "agent/agent.h"
#include "agent/handoff_server.h"
#include "agent/kube_mode.h"
#include "agent/pod_datapath.h"
#include "agent/pod_reconciler.h"
#include "common/admin/admin_server.h"
#include "common/admin/health_metrics.h"
#include "common/async/owned_io_context.h"
#include "common/bpf/capture_datapath.h"
#include "common/config/pipeline.h"
#include "common/discovery/client.h"
#include "common/fd_watch.h"
#include "common/identity/ca.h"
#include "common/identity/ca_service.h"

namespace ambit::agent {

struct Agent::Impl {
  explicit Impl(AgentOptions o)
      : options(std::move(o)), admin(io), metrics_server(io), resync(io) {}

  Status start();
  Status openEmbeddedCa();
  Status startCa();
  Status startConfig();
  Status startHandoff();
  void onConfig(std::shared_ptr<const NodeConfig> prepared);
  void reconcileNow();
  void scheduleResync();
  std::string configDump() const;
  void registerMetrics();
  void updateGauges();

  AgentOptions options;
  OwnedIoContext io;
  admin::AdminServer admin;
  admin::AdminServer metrics_server;  // Kubernetes mode: /metrics on the pod network
  boost::asio::steady_timer resync;
  std::unique_ptr<bpf::CaptureDatapath> datapath;
  std::unique_ptr<DatapathPodCapture> pod_capture;
  HostPodNetns pod_netns;
  HandoffServer handoff;
  std::unique_ptr<KubeMode> kube;  // Kubernetes mode only
  std::unique_ptr<PodReconciler> reconciler;
  std::unique_ptr<config::ConfigPipeline<NodeConfig>> config_pipeline;
  std::shared_ptr<identity::EmbeddedCa> ca;
  std::unique_ptr<identity::CaServer> ca_server;
  std::shared_ptr<const NodeConfig> config;  // the loop thread's; null until a good version
  bool ready = false;
  bool handoff_started = false;  // ztunnels are accepted once the pod set is reconciled

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Gauge* enrolled_gauge = nullptr;
  prometheus::Gauge* ztunnels_gauge = nullptr;
  prometheus::Gauge* handoff_errors = nullptr;
  prometheus::Gauge* pod_errors = nullptr;
  prometheus::Counter* config_rejects = nullptr;
  std::unique_ptr<admin::HealthMetrics> health;                        // registerMetrics()
  std::shared_ptr<const discovery::DiscoveryStatus> discovery_status;  // Kubernetes mode
  prometheus::Family<prometheus::Gauge>* map_entries = nullptr;
  prometheus::Family<prometheus::Gauge>* bpf_events = nullptr;
};

}  // namespace ambit::agent
