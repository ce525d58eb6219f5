#include "agent/agent.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <sys/file.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/agent_impl.h"
#include "agent/enrollment.h"
#include "agent/kube_mode.h"
#include "common/admin/admin_server.h"
#include "common/admin/metrics.h"
#include "common/bpf/capture_datapath.h"
#include "common/config/directory_source.h"
#include "common/discovery/mesh_source.h"
#include "common/fd_watch.h"
#include "common/identity/ca.h"
#include "common/identity/ca_service.h"
#include "common/log.h"

namespace ambit::agent {

namespace {
constexpr auto kResyncInterval = std::chrono::seconds(2);
}

namespace {

// Creates `dir` and takes an exclusive flock on <dir>/.lock (released with the fd).
Result<UniqueFd> lockDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return makeError("create {}: {}", dir, ec.message());
  std::string path = dir + "/.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return errnoError("open " + path);
  if (::flock(fd.get(), LOCK_EX) != 0) return errnoError("flock " + path);
  return fd;
}

}  // namespace

Status finalizeOptions(AgentOptions& o) {
  if (o.node.empty()) return makeError("--node is required (the node this agent runs on)");
  if (o.kubernetes) {
    if (!o.config_dir.empty()) return makeError("--config-dir is for local mode, not --kubernetes");
    if (o.discovery_address.empty()) {
      return makeError("--kubernetes needs --discovery-address (ambit-control, host:port)");
    }
    if (o.control_ca.empty()) return makeError("--kubernetes needs --control-ca");
    if (o.cgroup_path.empty()) {
      auto root = KubeMode::podCgroupRoot(o);
      AMBIT_TRY(root);
      o.cgroup_path = *root;
    }
    // Metrics on the pod network, admin dumps on localhost (two listeners).
    if (o.metrics_port == 0) {
      o.metrics_port = o.admin_port;
      o.admin_port = static_cast<uint16_t>(o.admin_port + 1);
    }
  } else {
    if (o.config_dir.empty()) return makeError("--config-dir is required (or --kubernetes)");
    if (o.cgroup_path.empty())
      return makeError("--cgroup is required (cgroup v2 subtree of the pods)");
  }
  if (o.pin_dir.empty()) o.pin_dir = std::string(AMBIT_PIN_ROOT) + "/" + o.node;
  if (o.state_dir.empty()) o.state_dir = "/var/lib/ambit/" + o.node;
  if (o.run_dir.empty()) o.run_dir = "/run/ambit/" + o.node;
  for (const auto& p : o.probe_sources) {
    if (!bpf::IpAddr::parse(p)) return makeError("--probe-source '{}' is not an IP address", p);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(o.cgroup_path, ec)) {
    return makeError("--cgroup {}: not a directory (is cgroup v2 mounted there?)", o.cgroup_path);
  }
  if (!std::filesystem::exists(o.cgroup_path + "/cgroup.procs", ec)) {
    return makeError("--cgroup {}: not a cgroup v2 directory (no cgroup.procs)", o.cgroup_path);
  }
  return Status::ok();
}

Status Agent::Impl::start() {
  auto dp = bpf::CaptureDatapath::open(options.pin_dir, options.cgroup_path);
  if (!dp) return dp.error().context("eBPF capture");
  datapath = std::move(*dp);
  if (!datapath->adoptedLinks().empty()) {
    logInfo("adopted {} pinned cgroup links from a previous agent",
            datapath->adoptedLinks().size());
  }
  std::vector<bpf::IpAddr> probes;
  for (const auto& p : options.probe_sources) probes.push_back(*bpf::IpAddr::parse(p));
  pod_capture = std::make_unique<DatapathPodCapture>(*datapath);
  if (options.kubernetes) {
    auto km = KubeMode::start(io, options, *datapath, *registry, [this] { reconcileNow(); });
    if (!km) return km.error();
    kube = std::move(*km);
  }
  reconciler = std::make_unique<PodReconciler>(*pod_capture, pod_netns, handoff, probes,
                                               kube ? &kube->resolver() : nullptr);
  AMBIT_TRY(startCa());

  registerMetrics();
  for (admin::AdminServer* server : {&admin, &metrics_server}) {
    server->route("/healthz/ready", admin::readinessHandler([this] { return ready; }));
    server->route("/metrics", [this](const admin::Request& r) {
      updateGauges();
      return admin::metricsHandler(registry)(r);
    });
  }
  admin.route("/config_dump", admin::jsonHandler([this] { return configDump(); }));
  // A successor agent started beside this one (the node DaemonSet's surge rollout, on the host
  // network) binds the same ports; this one then stops listening on them.
  AMBIT_TRY(admin.listenYieldingToSuccessor(options.admin_address, options.admin_port));
  if (options.metrics_port != 0) {
    AMBIT_TRY(
        metrics_server.listenYieldingToSuccessor(options.metrics_address, options.metrics_port));
  }

  AMBIT_TRY(startConfig());
  // Local mode reconciled the initial version above; in Kubernetes mode the first reconcile
  // waits for the node's pod list and starts the hand-off (reconcileNow).
  if (!kube) AMBIT_TRY(startHandoff());
  scheduleResync();
  return Status::ok();
}

// Accepts ztunnels only once the pod set is reconciled: the snapshot a ztunnel gets on
// connecting is authoritative (pods missing from it are closed), so an agent restarted before
// it knew the node's pods must not send one - the ztunnel keeps serving what it has meanwhile.
Status Agent::Impl::startHandoff() {
  AMBIT_TRY(handoff.start(options.handoffSocket(), [this](const std::string& uid) {
    boost::asio::post(io, [this, uid] { reconciler->onServed(uid); });
  }));
  handoff_started = true;
  return Status::ok();
}

Status Agent::Impl::openEmbeddedCa() {
  identity::EmbeddedCaOptions ca_opts;
  ca_opts.stateDir = options.state_dir;
  ca_opts.trustDomain = options.trust_domain;
  ca_opts.maxLeafTtl = std::chrono::seconds(options.max_cert_ttl_seconds);
  // Agents of several nodes may share one CA directory (a single cluster root, as in the
  // lab): the lock makes the first create the root and the others load it.
  auto lock = lockDirectory(options.state_dir);
  if (!lock) return lock.error().context("embedded CA");
  auto ca_or = identity::EmbeddedCa::openOrCreate(ca_opts);
  if (!ca_or) return ca_or.error().context("embedded CA");
  ca = std::move(*ca_or);
  return Status::ok();
}

// The node's certificate service on its unix socket: the embedded CA (local mode) or
// forwarding to ambit-control (Kubernetes mode), for identities of this node's pods only.
Status Agent::Impl::startCa() {
  std::shared_ptr<identity::CertificateSigner> signer;
  if (kube) {
    signer = kube->signer();  // CSRs go to ambit-control
  } else {
    AMBIT_TRY(openEmbeddedCa());
    signer = ca;
  }
  auto* rec = reconciler.get();
  auto server = identity::CaServer::start(
      "unix:" + options.caSocket(), signer,
      [rec, node = options.node](const identity::SpiffeId& id, std::string_view asking) -> Status {
        if (asking != node)
          return makeError("node '{}' may not ask this agent (node {})", asking, node);
        if (!rec->mayHaveIdentity(id.ns, id.serviceAccount)) {
          return makeError("no pod on node {} runs as {}", node, id.toString());
        }
        return Status::ok();
      });
  if (!server) return server.error().context("certificate service");
  ca_server = std::move(*server);
  return Status::ok();
}

// Reading, translating and planning a version happen on the pipeline's config thread; this
// loop only applies the plan (the initial version is applied before start() returns).
Status Agent::Impl::startConfig() {
  std::unique_ptr<config::ConfigSource> source =
      kube ? kube->takeConfigSource()
           : config::localConfigSource(options.config_dir, options.trust_domain);
  if (source) discovery_status = discovery::discoveryStatus(*source);
  const NetnsSource netns = kube ? NetnsSource::kResolver : NetnsSource::kAnnotation;
  auto p = config::ConfigPipeline<NodeConfig>::start(
      io.get_executor(), std::move(source),
      {.prepare =
           [this, node = options.node, netns](const config::SnapshotPtr& s) {
             // Config thread: the ztunnel gets the same mesh through the relay.
             if (kube) kube->relay(*s);
             return std::make_shared<const NodeConfig>(planNode(s, node, netns));
           },
       .apply = [this](std::shared_ptr<const NodeConfig> c) { onConfig(std::move(c)); },
       .on_rejected =
           [this](const config::ConfigErrors&) {
             config_rejects->Increment();
             health->configRejected();
           }});
  if (!p) return p.error();
  config_pipeline = std::move(*p);
  return Status::ok();
}

void Agent::Impl::onConfig(std::shared_ptr<const NodeConfig> prepared) {
  config = std::move(prepared);
  health->configApplied(config->snapshot->version());
  logInfo("config version {}: {} workloads", config->snapshot->version(),
          config->snapshot->workloads_size());
  // Aliases `config`: the set lives (and is released) with it.
  reconciler->setNodeIdentities(
      std::shared_ptr<const std::set<std::string>>(config, &config->identities));
  reconcileNow();
}

void Agent::Impl::reconcileNow() {
  if (!config) return;
  // Until the node's pods are listed none is known: a reconcile would take pods out.
  if (kube && !kube->podsSynced()) return;
  reconciler->reconcile(config->plan);
  if (kube && !handoff_started) {
    if (Status s = startHandoff(); !s) {
      logError("pod hand-off: {}; not ready", s.message());
      return;
    }
    logInfo("node's pods reconciled: accepting ztunnels on {}", options.handoffSocket());
  }
  ready = true;
}

void Agent::Impl::scheduleResync() {
  resync.expires_after(reconciler->stats().pending.empty()
                           ? kResyncInterval
                           : std::chrono::milliseconds(kPendingRetry));
  resync.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    // Retries pods that failed (e.g. a netns that did not exist yet) and repairs drift; pods
    // waiting for their sandbox are looked at again soon.
    const auto& st = reconciler->stats();
    if (config && (!st.last_problems.empty() || !st.pending.empty())) reconcileNow();
    scheduleResync();
  });
}

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() {
  if (impl_->ca_server) impl_->ca_server->shutdown();
  if (impl_->kube) impl_->kube->stop();
  impl_->handoff.stop();
  // Coroutines still waiting in the loop (the Kubernetes watches) use the members below: they
  // go first, not in ~io_context after those members (ASan: a use after free at exit).
  impl_->io.destroyPendingWork();
}

Result<std::unique_ptr<Agent>> Agent::create(AgentOptions options) {
  AMBIT_TRY(finalizeOptions(options));
  auto impl = std::make_unique<Impl>(std::move(options));
  AMBIT_TRY(impl->start());
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

void Agent::run() { impl_->io.run(); }
void Agent::stop() { impl_->io.stop(); }

Status Agent::removeCapture(const AgentOptions& options) {
  std::string pin_dir =
      options.pin_dir.empty() ? std::string(AMBIT_PIN_ROOT) + "/" + options.node : options.pin_dir;
  AMBIT_TRY(bpf::CaptureDatapath::cleanup(pin_dir));
  std::string run_dir = options.run_dir.empty() ? "/run/ambit/" + options.node : options.run_dir;
  std::error_code ec;
  std::filesystem::remove_all(run_dir, ec);
  if (ec) return makeError("remove {}: {}", run_dir, ec.message());
  logInfo("removed the pinned eBPF objects under {} and the sockets under {}", pin_dir, run_dir);
  return Status::ok();
}

Status Agent::cleanup(const AgentOptions& options) {
  std::string pin_dir =
      options.pin_dir.empty() ? std::string(AMBIT_PIN_ROOT) + "/" + options.node : options.pin_dir;
  AMBIT_TRY(bpf::CaptureDatapath::cleanup(pin_dir));
  std::string run_dir = options.run_dir.empty() ? "/run/ambit/" + options.node : options.run_dir;
  std::string state_dir =
      options.state_dir.empty() ? "/var/lib/ambit/" + options.node : options.state_dir;
  for (const auto& dir : {run_dir, state_dir}) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) return makeError("remove {}: {}", dir, ec.message());
  }
  logInfo("removed pinned eBPF objects under {}, sockets under {}, CA state under {}", pin_dir,
          run_dir, state_dir);
  return Status::ok();
}

}  // namespace ambit::agent
