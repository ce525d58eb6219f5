#include "ztunnel/ztunnel.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <future>

#include "common/async/spawn.h"
#include "common/identity/ca_client.h"
#include "common/log.h"
#include "ztunnel/ztunnel_impl.h"

namespace ambit::ztunnel {

namespace {
constexpr auto kIdentityWait = std::chrono::seconds(5);
constexpr auto kAgentWait = std::chrono::seconds(60);
}  // namespace

Status finalizeOptions(ZtunnelOptions& o) {
  if (o.node.empty()) return makeError("--node is required");
  if (o.config_dir.empty()) return makeError("--config-dir is required");
  if (o.pin_dir.empty()) o.pin_dir = std::string(AMBIT_PIN_ROOT) + "/" + o.node;
  if (o.run_dir.empty()) o.run_dir = "/run/ambit/" + o.node;
  if (o.cert_ttl_seconds < 10)
    return makeError("--cert-ttl {}s is too short (minimum 10s)", o.cert_ttl_seconds);
  return Status::ok();
}

Ztunnel::Impl::Impl(ZtunnelOptions o) : options(std::move(o)) {}

Status Ztunnel::Impl::start() {
  // The agent creates the pinned maps; on a fresh node the ztunnel may start first.
  auto cap = bpf::CaptureClient::open(options.pin_dir);
  for (auto waited = std::chrono::milliseconds(0); !cap && waited < kAgentWait;
       waited += std::chrono::milliseconds(100)) {
    if (waited.count() == 0)
      logInfo("waiting for the agent's capture maps: {}", cap.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cap = bpf::CaptureClient::open(options.pin_dir);
  }
  if (!cap) return cap.error().context("capture maps (is the agent running?)");
  capture = std::make_unique<bpf::CaptureClient>(std::move(*cap));

  identity::CaClientOptions ca_opts;
  ca_opts.address = "unix:" + options.run_dir + "/ca.sock";
  ca_opts.node = options.node;
  auto ca = std::make_shared<identity::CaClient>(ca_opts);
  identity::CertificateManagerOptions cm;
  cm.requestedTtl = std::chrono::seconds(options.cert_ttl_seconds);
  identities = std::make_unique<identity::IdentityStore>(io, ca, cm, options.trust_domain);

  hbone::PoolOptions pool_opts;
  pool_opts.socket_mark = AMBIT_SOCKET_MARK;
  pool = std::make_unique<hbone::HboneClientPool>(io.get_executor(), identities->peerVerifier(),
                                                  pool_opts);
  metrics = std::make_unique<TcpMetrics>(*registry);

  config::ConfigWatcher::Options wopts;
  wopts.loader.trust_domain = options.trust_domain;
  auto w = config::LoopConfigWatch::start(
      io, options.config_dir, wopts,
      [this](std::shared_ptr<const v1::MeshSnapshot> s) { onSnapshot(std::move(s)); });
  if (!w) return w.error();
  config_watch = std::move(*w);

  AMBIT_TRY(registerAdmin());
  handoff = std::make_unique<HandoffClient>(options.run_dir + "/ztunnel.sock", *this);
  handoff->start();
  return Status::ok();
}

void Ztunnel::Impl::onSnapshot(std::shared_ptr<const v1::MeshSnapshot> s) {
  std::vector<v1::AuthorizationPolicy> authz(s->authorization_policies().begin(),
                                             s->authorization_policies().end());
  std::vector<v1::PeerAuthentication> peer(s->peer_authentications().begin(),
                                           s->peer_authentications().end());
  auto compiled = rbac::compile(authz, peer,
                                s->root_namespace().empty() ? "istio-system" : s->root_namespace());
  if (!compiled) {
    logError("config version {}: policies rejected, previous policies stay: {}", s->version(),
             compiled.error().message);
    return;
  }
  state = std::make_shared<MeshState>(s);
  policies = *compiled;
  logInfo("config version {}: {} workloads, {} services, {} authorization policies", s->version(),
          s->workloads_size(), s->services_size(), s->authorization_policies_size());
  recheckConnections();
}

void Ztunnel::Impl::recheckConnections() {
  size_t closed = tracker.closeIf([this](const TrackedConnection& c) {
    auto it = pods.find(c.pod_uid);
    if (it == pods.end()) return true;
    rbac::Attributes attrs;
    attrs.source_ip = c.source_ip;
    attrs.destination_ip = c.destination_ip;
    attrs.destination_port = c.destination_port;
    attrs.source_principal = c.source_principal;
    if (c.source_principal.empty() &&
        !policies->plaintextAllowed(targetFor(*it->second), c.destination_port)) {
      return true;
    }
    return !authorize(*it->second, attrs).allowed;
  });
  if (closed) logInfo("policy update closed {} connections it now denies", closed);
}

Status Ztunnel::Impl::addPod(const v1::PodInfo& info, UniqueFd netns) {
  if (!netns) return makeError("pod {}: hand-off carried no netns fd", info.uid());
  auto pod = std::make_shared<Pod>();
  pod->info = info;
  pod->netns = std::move(netns);
  AMBIT_TRY(onDataThread([&]() -> Status { return openPod(pod); }));
  // Serve HBONE and ack only once the pod can present its certificate (bounded wait).
  auto deadline = std::chrono::steady_clock::now() + kIdentityWait;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    auto r = onDataThread([&]() -> Result<bool> { return identities->ready(pod->spiffe_id); });
    ready = r && *r;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ready)
    logWarn("pod {}: no certificate for {} yet; serving HBONE anyway", info.uid(), pod->spiffe_id);
  return onDataThread([&]() -> Status { return startHbone(info.uid()); });
}

Status Ztunnel::Impl::deletePod(const std::string& uid) {
  return onDataThread([&]() -> Status {
    closePod(uid);
    return Status::ok();
  });
}

void Ztunnel::Impl::snapshotStart() {
  (void)onDataThread([&]() -> Status {
    for (auto& [uid, pod] : pods) pod->seen_in_snapshot = false;
    return Status::ok();
  });
}

void Ztunnel::Impl::snapshotDone() {
  (void)onDataThread([&]() -> Status {
    std::vector<std::string> gone;
    for (auto& [uid, pod] : pods) {
      if (!pod->seen_in_snapshot) gone.push_back(uid);
    }
    for (const auto& uid : gone) closePod(uid);
    return Status::ok();
  });
}

void Ztunnel::Impl::run() {
  admin_thread = std::thread([this] {
    auto guard = asio::make_work_guard(admin_io);
    admin_io.run();
  });
  io.run();
  admin_io.stop();
  if (admin_thread.joinable()) admin_thread.join();
}

void Ztunnel::Impl::beginDrain() {
  if (draining) return;
  draining = true;
  logInfo("draining: no new connections; open tunnels have {}ms", options.drain_deadline.count());
  handoff->stop();
  auto deadline = std::chrono::steady_clock::now() + options.drain_deadline;
  for (auto& [uid, pod] : pods) {
    boost::system::error_code ignored;
    for (auto& a : pod->outbound) a->close(ignored);
    if (pod->inbound_plaintext) pod->inbound_plaintext->close(ignored);
  }
  // Every pod's HBONE server drains at once: each stops accepting and sends GOAWAY now, not
  // after the pods before it have finished.
  auto draining_servers = std::make_shared<size_t>(0);
  for (auto& [uid, pod] : pods) {
    if (!pod->hbone) continue;
    ++*draining_servers;
    asio::co_spawn(
        io, [pod, deadline]() -> asio::awaitable<void> { co_await pod->hbone->drain(deadline); },
        [draining_servers](std::exception_ptr) { --*draining_servers; });
  }
  spawn(
      io,
      [self = shared_from_this(), deadline, draining_servers]() -> asio::awaitable<void> {
        asio::steady_timer t(self->io);
        while ((*draining_servers > 0 || self->outbound_active > 0) &&
               std::chrono::steady_clock::now() < deadline) {
          t.expires_after(std::chrono::milliseconds(50));
          co_await t.async_wait(asio::use_awaitable);
        }
        // Past the deadline the servers close what is left themselves; wait for that.
        while (*draining_servers > 0) {
          t.expires_after(std::chrono::milliseconds(50));
          co_await t.async_wait(asio::use_awaitable);
        }
        self->pool->close();
        self->identities.reset();
        self->config_watch.reset();
        self->io.stop();
      },
      "ztunnel drain");
}

Ztunnel::Ztunnel(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ztunnel::~Ztunnel() {
  if (impl_->handoff) impl_->handoff->stop();
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
