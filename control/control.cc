#include "control/control.h"

#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/admin/metrics.h"
#include "common/async/owned_io_context.h"
#include "common/async/spawn.h"
#include "common/discovery/server.h"
#include "common/identity/ca_service.h"
#include "common/kube/api_client.h"
#include "common/log.h"
#include "control/ca_secret.h"
#include "control/caller_auth.h"
#include "control/cluster_watch.h"
#include "control/control_metrics.h"

namespace ambit::control {
namespace {

namespace asio = boost::asio;

std::string hostname() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof(buf) - 1) == 0 ? buf : "ambit-control";
}

Status finalize(ControlOptions& o) {
  if (o.ns.empty()) return makeError("--namespace must not be empty");
  if (o.instance.empty()) o.instance = hostname();
  if (o.server_names.empty()) {
    o.server_names = {fmt::format("ambit-control.{}.svc", o.ns),
                      fmt::format("ambit-control.{}.svc.{}", o.ns, o.cluster_domain),
                      fmt::format("ambit-control.{}", o.ns), "ambit-control"};
  }
  if (o.waypoint.control_address.empty() ||
      o.waypoint.control_address == WaypointTemplate{}.control_address) {
    const auto colon = o.listen.rfind(':');
    const std::string port = colon == std::string::npos ? "15012" : o.listen.substr(colon + 1);
    o.waypoint.control_address =
        fmt::format("ambit-control.{}.svc:{}", o.ns, port == "0" ? "15012" : port);
  }
  o.waypoint.token_audience = o.token_audience;
  o.waypoint.trust_domain = o.trust_domain;
  o.waypoint.root_cert_configmap = o.root_cert_configmap;
  return Status::ok();
}

// Runs `work` on `io` (not yet running elsewhere) until it finishes; the result.
template <typename T>
T runToCompletion(asio::io_context& io, asio::awaitable<T> work) {
  std::optional<T> out;
  spawn(
      io,
      [&, w = std::move(work)]() mutable -> asio::awaitable<void> { out = co_await std::move(w); },
      "startup step");
  while (!out) io.run_one();
  return std::move(*out);
}

}  // namespace

struct Control::Impl {
  ControlOptions options;
  OwnedIoContext kube_io;
  asio::executor_work_guard<asio::io_context::executor_type> work{kube_io.get_executor()};
  std::unique_ptr<kube::ApiClient> api;
  std::shared_ptr<prometheus::Registry> metrics = std::make_shared<prometheus::Registry>();
  std::unique_ptr<ControlMetrics> health = std::make_unique<ControlMetrics>(*metrics);
  LoadedCa ca;
  std::shared_ptr<discovery::ResourceStore> store =
      std::make_shared<discovery::ResourceStore>(/*ready=*/false);
  NodeIdentities pods;
  WaypointIdentities waypoints;
  std::unique_ptr<TokenReviewer> reviewer;
  std::unique_ptr<CallerAuth> auth;
  std::unique_ptr<identity::CertificateServiceImpl> certificates;
  std::unique_ptr<discovery::DiscoveryServer> server;
  std::unique_ptr<EventRecorder> events;
  std::unique_ptr<WaypointDeployer> deployer;
  std::unique_ptr<ClusterWatch> watch;
  std::unique_ptr<admin::AdminServer> monitoring;
  std::atomic<bool> stopping{false};

  Status loadCa(std::chrono::seconds timeout);
  Status startServing();
  Status startMonitoring();
};

Status Control::Impl::loadCa(std::chrono::seconds timeout) {
  CaSecretOptions o;
  o.ns = options.ns;
  o.secret = options.ca_secret;
  o.plugin_secret = options.plugin_ca_secret;
  o.ca.trustDomain = options.trust_domain;
  o.ca.maxLeafTtl = options.max_workload_cert_ttl;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto wait = std::chrono::milliseconds(500);;
       wait = std::min(wait * 2, std::chrono::milliseconds(5000))) {
    auto loaded = runToCompletion(kube_io, loadOrCreateCa(*api, o));
    if (loaded) {
      ca = std::move(*loaded);
      return Status::ok();
    }
    if (loaded.error().code == kBadCaSecret || std::chrono::steady_clock::now() + wait > deadline) {
      return loaded.error().context("load the CA");
    }
    logWarn("cannot load the CA yet (retrying in {} ms): {}", wait.count(), loaded.error().message);
    std::this_thread::sleep_for(wait);
  }
}

Status Control::Impl::startServing() {
  auto id = identity::SpiffeId::make(options.trust_domain, options.ns, options.service_account);
  AMBIT_TRY(id);
  auto serving = ca.ca->issueServing(
      *id, options.server_names,
      std::chrono::duration_cast<std::chrono::seconds>(options.serving_cert_ttl));
  AMBIT_TRY(serving);
  std::string chain;
  for (const auto& pem : serving->issued.chainPem) chain += pem;

  reviewer = std::make_unique<TokenReviewer>(*api, options.token_audience);
  CsrRules rules;
  rules.trust_domain = options.trust_domain;
  rules.node_agent_namespace = options.ns;
  rules.node_agent_service_account = options.node_agent_service_account;
  auth = std::make_unique<CallerAuth>(kube_io, *reviewer, pods, waypoints, rules);
  certificates = std::make_unique<identity::CertificateServiceImpl>(ca.ca, auth->csrAuthorizer());
  certificates->observe([health = health.get()](identity::CsrOutcome o) { health->csr(o); });
  AMBIT_TRY(health->rootCertificates(ca.ca->rootPem()));

  discovery::DiscoveryServerOptions so;
  so.address = options.listen;
  so.tls = discovery::ServerTls{chain, serving->keyPem};
  // The server keeps the authenticator alive; CallerAuth itself is owned here.
  so.authenticator = std::shared_ptr<discovery::Authenticator>(auth.get(), [](auto*) {});
  so.extra_services = {certificates.get()};
  so.metrics = metrics;
  so.istiod_metrics = true;
  auto started = discovery::DiscoveryServer::start(store, std::move(so));
  AMBIT_TRY(started);
  server = std::move(*started);
  return Status::ok();
}

Status Control::Impl::startMonitoring() {
  monitoring = std::make_unique<admin::AdminServer>(kube_io);
  monitoring->route("/metrics",
                    admin::metricsHandler(metrics, [health = health.get()] { health->refresh(); }));
  monitoring->route("/ready", admin::readinessHandler([this] { return watch && watch->ready(); }));
  monitoring->route("/healthz", admin::readinessHandler([this] { return !stopping.load(); }));
  return monitoring->listen(options.monitoring_address, options.monitoring_port);
}

Result<std::unique_ptr<Control>> Control::create(ControlOptions options,
                                                 std::chrono::seconds startup_timeout) {
  AMBIT_TRY(finalize(options));
  auto rest = options.kubeconfig.empty() ? kube::inClusterConfig()
                                         : kube::loadKubeconfig(options.kubeconfig);
  if (!rest) return rest.error().context("Kubernetes API configuration");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->api = std::make_unique<kube::ApiClient>(impl->kube_io.get_executor(),
                                                std::make_shared<kube::Credentials>(*rest));
  AMBIT_TRY(impl->loadCa(startup_timeout));
  AMBIT_TRY(impl->startServing());
  AMBIT_TRY(impl->startMonitoring());

  impl->events = std::make_unique<EventRecorder>(*impl->api, "ambit.dev/ambit-control",
                                                 impl->options.instance);
  impl->deployer = std::make_unique<WaypointDeployer>(*impl->api, impl->options.waypoint);
  ClusterWatchOptions wo;
  wo.loader.trust_domain = impl->options.trust_domain;
  wo.loader.root_namespace = impl->options.root_namespace;
  wo.loader.cluster_domain = impl->options.cluster_domain;
  wo.root_cert_configmap = impl->options.root_cert_configmap;
  wo.root_cert_pem = impl->ca.ca->rootPem();
  wo.push_debounce = impl->options.push_debounce;
  wo.health = impl->health.get();
  impl->watch = std::make_unique<ClusterWatch>(*impl->api, impl->store, impl->pods, impl->waypoints,
                                               *impl->deployer, *impl->events, *impl->metrics, wo);
  logInfo("ambit-control {}: CA from {}, discovery + certificates on {}, monitoring on {}:{}",
          impl->options.instance, impl->ca.origin, impl->server->address(),
          impl->options.monitoring_address, impl->monitoring->port());
  return std::unique_ptr<Control>(new Control(std::move(impl)));
}

Control::Control(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Control::~Control() {
  stop();
  // The watches' coroutines still waiting in the loop use the ClusterWatch: they are destroyed
  // first, not in ~io_context after it (ASan: a use after free in every shutdown).
  impl_->kube_io.destroyPendingWork();
  impl_->watch.reset();
  impl_->monitoring.reset();
}

void Control::run() {
  asio::post(impl_->kube_io, [this] { impl_->watch->start(); });
  impl_->kube_io.run();
}

void Control::stop() {
  if (impl_->stopping.exchange(true)) return;
  // Off the kube thread first: shutting the server down waits for certificate calls, which
  // wait for TokenReviews on the kube thread.
  if (impl_->server) impl_->server->shutdown();
  asio::post(impl_->kube_io, [this] {
    if (impl_->watch) impl_->watch->stop();
    if (impl_->monitoring) impl_->monitoring->stop();
    impl_->work.reset();
    impl_->kube_io.stop();
  });
}

int Control::port() const { return impl_->server->port(); }
uint16_t Control::monitoringPort() const { return impl_->monitoring->port(); }

}  // namespace ambit::control
