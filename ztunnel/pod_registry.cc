#include "ztunnel/pod_registry.h"

#include <algorithm>
#include <thread>

#include "ambit/abi.h"
#include "common/admin/metrics.h"
#include "common/async/accept_loop.h"
#include "common/async/spawn.h"
#include "common/listeners.h"
#include "common/log.h"
#include "ztunnel/data_thread.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

PodRegistry::PodRegistry(asio::io_context& io, Options options, PodSocketFactory& sockets,
                         InboundSteering& steering, identity::IdentityStore& identities,
                         OutboundProxy& outbound, InboundProxy& inbound)
    : io_(io),
      options_(std::move(options)),
      sockets_(sockets),
      steering_(steering),
      identities_(identities),
      outbound_(outbound),
      inbound_(inbound) {
  if (options_.registry == nullptr) return;
  outbound_exhausted_ = admin::acceptExhaustedCounter(*options_.registry, "outbound");
  inbound_exhausted_ = admin::acceptExhaustedCounter(*options_.registry, "inbound");
  hbone_exhausted_ = admin::acceptExhaustedCounter(*options_.registry, "hbone");
  migration_failures_ =
      &prometheus::BuildCounter()
           .Name("ambit_ztunnel_listener_migration_failures_total")
           .Help(
               "Pods whose listeners cannot hand queued connections to a new ztunnel on an "
               "upgrade (net.ipv4.tcp_migrate_req could not be set in the pod's netns)")
           .Register(*options_.registry)
           .Add({});
}

Status PodRegistry::addPod(const v1::PodInfo& info, UniqueFd netns) {
  if (!netns) return makeError("pod {}: hand-off carried no netns fd", info.uid());
  auto pod = std::make_shared<Pod>();
  pod->info = info;
  pod->netns = std::move(netns);
  uint64_t issued = 0;  // certificates installed so far
  AMBIT_TRY(runOnDataThread(io_, [&]() -> Status {
    issued = identities_.rotations();
    return openPod(pod);
  }));
  // Serve HBONE and ack only once the pod can present its certificate (bounded wait; a short
  // one while no certificate has come since a wait ran out, pod_registry.h).
  const bool ca_silent = issued_when_wait_ran_out_ && *issued_when_wait_ran_out_ == issued;
  auto deadline =
      std::chrono::steady_clock::now() +
      (ca_silent ? std::min(options_.identity_wait, options_.identity_wait_after_timeout)
                 : options_.identity_wait);
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    auto r = runOnDataThread(io_, [&]() -> Result<bool> {
      issued = identities_.rotations();
      return identities_.ready(pod->spiffe_id);
    });
    ready = r && *r;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ready) {
    issued_when_wait_ran_out_ = issued;
    logWarn("pod {}: no certificate for {} yet; serving HBONE anyway", info.uid(), pod->spiffe_id);
  } else if (issued_when_wait_ran_out_ && *issued_when_wait_ran_out_ != issued) {
    issued_when_wait_ran_out_.reset();  // the CA answers again
  }
  return runOnDataThread(io_, [&]() -> Status { return startHbone(info.uid()); });
}

Status PodRegistry::deletePod(const std::string& uid) {
  return runOnDataThread(io_, [&]() -> Status {
    closePod(uid);
    return Status::ok();
  });
}

void PodRegistry::snapshotStart() {
  (void)runOnDataThread(io_, [&]() -> Status {
    for (auto& [uid, pod] : pods_) pod->seen_in_snapshot = false;
    return Status::ok();
  });
}

void PodRegistry::snapshotDone() {
  (void)runOnDataThread(io_, [&]() -> Status {
    std::vector<std::string> gone;
    for (auto& [uid, pod] : pods_) {
      if (!pod->seen_in_snapshot) gone.push_back(uid);
    }
    for (const auto& uid : gone) closePod(uid);
    return Status::ok();
  });
}

const Pod* PodRegistry::find(const std::string& uid) const {
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second.get();
}

Result<std::unique_ptr<tcp::acceptor>> PodRegistry::listen(int netns, const Endpoint& ep,
                                                           bool v6_only) {
  auto fd = sockets_.listener(netns, ep, v6_only);
  if (!fd) return fd.error();
  boost::system::error_code ec;
  auto a = std::make_unique<tcp::acceptor>(io_);
  a->assign(ep.protocol(), fd->get(), ec);
  if (ec)
    return makeError("assign listener {}:{}: {}", ep.address().to_string(), ep.port(),
                     ec.message());
  (void)fd->release();  // the acceptor owns it now
  return a;
}

void PodRegistry::enableMigration(const Pod& pod) {
  Status st = sockets_.enableListenerMigration(pod.netns.get());
  if (st) return;
  // The pod is served all the same; only an upgrade of this ztunnel resets the connections
  // still queued on its listeners instead of handing them to the new one.
  if (migration_failures_ != nullptr) migration_failures_->Increment();
  logWarn(
      "pod {}: {}; its queued connections will be reset, not handed over, when this ztunnel is "
      "upgraded (needs Linux >= 5.14 and a writable /proc/sys in the pod's netns)",
      pod.info.uid(), st.message());
}

Status PodRegistry::openListeners(Pod& pod) {
  const int ns = pod.netns.get();
  const std::string where = "pod " + pod.info.uid();
  enableMigration(pod);
  for (const char* lo : {"127.0.0.1", "::1"}) {
    auto a = listen(ns, Endpoint(asio::ip::make_address(lo), AMBIT_PORT_OUTBOUND), true);
    if (!a) return a.error().context(where + ": outbound listener");
    pod.outbound.push_back(std::move(*a));
  }
  auto any6 = asio::ip::address_v6::any();
  auto in = listen(ns, Endpoint(any6, AMBIT_PORT_INBOUND), false);
  if (!in) return in.error().context(where + ": inbound plaintext listener");
  pod.inbound_plaintext = std::move(*in);
  for (const auto& ip : pod.info.addresses()) {
    auto bip = bpf::IpAddr::parse(ip);
    if (!bip) return bip.error().context(where);
    AMBIT_TRY(steering_.registerListener(*bip, pod.inbound_plaintext->native_handle()));
  }
  auto hb = listen(ns, Endpoint(any6, AMBIT_PORT_HBONE), false);
  if (!hb) return hb.error().context(where + ": HBONE listener");
  pod.hbone_pending = std::move(*hb);
  recordHboneListeners(pod);
  return Status::ok();
}

void PodRegistry::recordHboneListeners(Pod& pod) {
  auto inode = socketInode(pod.hbone_pending->native_handle());
  auto present = inode ? sockets_.listeners(pod.netns.get(), hboneEndpoint())
                       : Result<std::vector<uint64_t>>(inode.error());
  if (!present) {
    // Only the hand-over at this ztunnel's own upgrade needs them: it then waits its full
    // successor wait for this pod.
    logWarn("pod {}: cannot list its HBONE listeners ({}); an upgrade will not see its successor",
            pod.info.uid(), present.error().message);
    return;
  }
  pod.hbone_inode = *inode;
  for (uint64_t other : *present) {
    if (other != *inode) pod.hbone_predecessors.insert(other);
  }
}

Endpoint PodRegistry::hboneEndpoint() {
  return Endpoint(asio::ip::address_v6::any(), AMBIT_PORT_HBONE);
}

size_t PodRegistry::podsAwaitingSuccessor() {
  size_t waiting = 0;
  for (const auto& [uid, pod] : pods_) {
    auto now = pod->hbone_inode == 0 ? Result<std::vector<uint64_t>>(makeError("not recorded"))
                                     : sockets_.listeners(pod->netns.get(), hboneEndpoint());
    bool successor = false;
    if (now) {
      for (uint64_t other : *now) {
        successor =
            successor || (other != pod->hbone_inode && !pod->hbone_predecessors.contains(other));
      }
    }
    if (!successor) ++waiting;
  }
  return waiting;
}

Status PodRegistry::openPod(std::shared_ptr<Pod> pod) {
  const std::string& uid = pod->info.uid();
  std::string td =
      pod->info.trust_domain().empty() ? options_.trust_domain : pod->info.trust_domain();
  auto id = identity::SpiffeId::make(td, pod->info.namespace_(), pod->info.service_account());
  if (!id) return id.error().context("pod " + uid);
  pod->spiffe_id = id->toString();  // also for a repeated add: the caller waits on it
  if (auto it = pods_.find(uid); it != pods_.end()) {
    it->second->seen_in_snapshot = true;  // already served (PodKeep or a repeated add)
    return Status::ok();
  }
  if (!accepting_) return makeError("pod {}: ztunnel is draining", uid);
  for (const auto& a : pod->info.addresses()) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(a, ec);
    if (ec) return makeError("pod {}: bad address '{}'", uid, a);
    pod->ips.push_back(ip);
  }
  AMBIT_TRY(openListeners(*pod));
  identities_.acquire(*id);
  pod->tls = identities_.tls(pod->spiffe_id);
  serveHbone(pod);
  pods_[uid] = pod;
  for (auto& a : pod->outbound) acceptOutbound(pod, *a);
  acceptPlaintext(pod);
  logInfo("pod {} ({}): listening on 15001, 15006, 15008 in its netns", uid, pod->spiffe_id);
  return Status::ok();
}

void PodRegistry::serveHbone(const std::shared_ptr<Pod>& pod) {
  hbone::ServerOptions sopts;
  sopts.handshake_timeout = options_.handshake_timeout;
  sopts.http2.header_timeout = options_.http2_header_timeout;
  sopts.http2.send_stall_timeout = options_.http2_send_stall_timeout;
  sopts.on_timeout = options_.on_hbone_timeout;
  sopts.on_accept_exhausted = hbone_exhausted_;
  std::weak_ptr<Pod> weak = pod;
  pod->hbone = std::make_unique<hbone::HboneServer>(
      io_.get_executor(), *pod->tls->server, identities_.peerVerifier(),
      [this, weak](const hbone::ConnectRequest& r) { return admitTunnel(weak, r); }, sopts);
}

asio::awaitable<hbone::ConnectOutcome> PodRegistry::admitTunnel(std::weak_ptr<Pod> weak,
                                                                const hbone::ConnectRequest& r) {
  auto p = weak.lock();
  if (!p) co_return 503;
  auto lease = admit(*p);
  if (!lease) co_return 503;
  // A spliced tunnel keeps the slot until it closes; a refusal frees it here.
  co_return co_await inbound_.onHboneConnect(p, r, std::move(*lease));
}

std::optional<ConnectionLimits::Lease> PodRegistry::admit(const Pod& pod) {
  if (options_.limits == nullptr) return ConnectionLimits::Lease();
  return options_.limits->admit(pod.info.uid());
}

Status PodRegistry::startHbone(const std::string& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end() || !it->second->hbone_pending) return Status::ok();  // gone, or serving
  auto acceptor = std::move(it->second->hbone_pending);
  Status st = it->second->hbone->listen(std::move(*acceptor));
  if (!st) return st.error().context("pod " + uid + ": HBONE");
  return Status::ok();
}

void PodRegistry::closePod(const std::string& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  auto pod = it->second;
  pods_.erase(it);
  boost::system::error_code ignored;
  for (auto& a : pod->outbound) a->close(ignored);
  for (const auto& ip : pod->info.addresses()) {
    if (auto bip = bpf::IpAddr::parse(ip)) (void)steering_.unregisterListener(*bip);
  }
  if (pod->inbound_plaintext) pod->inbound_plaintext->close(ignored);
  if (pod->hbone_pending) pod->hbone_pending->close(ignored);
  if (pod->hbone) pod->hbone->close();
  if (auto id = identity::SpiffeId::parse(pod->spiffe_id)) identities_.release(*id);
  logInfo("pod {}: removed, listeners closed", uid);
}

void PodRegistry::stopAccepting() {
  accepting_ = false;
  for (auto& [uid, pod] : pods_) {
    boost::system::error_code ignored;
    for (auto& a : pod->outbound) a->close(ignored);
    if (pod->inbound_plaintext) pod->inbound_plaintext->close(ignored);
  }
}

void PodRegistry::acceptOutbound(std::shared_ptr<Pod> pod, tcp::acceptor& acceptor) {
  spawn(
      io_,
      [this, pod, &acceptor]() -> asio::awaitable<void> {
        boost::system::error_code ec;
        auto local = acceptor.local_endpoint(ec);
        AcceptBackoff backoff(fmt::format("pod {} outbound listener {}", pod->info.uid(),
                                          hbone::formatAuthority(local)),
                              outbound_exhausted_);
        const AcceptHandler on_accept = [this, pod](tcp::socket s) {
          auto lease = admit(*pod);
          if (!lease) return;  // closing the socket refuses the app's connection
          spawn(io_, outbound_.serve(pod, std::move(s), std::move(*lease)),
                "outbound connection setup");
        };
        co_await acceptUntilClosed(acceptor, backoff, on_accept);
      },
      "outbound accept loop");
}

void PodRegistry::acceptPlaintext(std::shared_ptr<Pod> pod) {
  spawn(
      io_,
      [this, pod]() -> asio::awaitable<void> {
        AcceptBackoff backoff(fmt::format("pod {} inbound plaintext listener", pod->info.uid()),
                              inbound_exhausted_);
        const AcceptHandler on_accept = [this, pod](tcp::socket s) {
          auto lease = admit(*pod);
          if (!lease) return;
          spawn(io_, inbound_.servePlaintext(pod, std::move(s), std::move(*lease)),
                "inbound plaintext connection");
        };
        co_await acceptUntilClosed(*pod->inbound_plaintext, backoff, on_accept);
      },
      "inbound plaintext accept loop");
}

}  // namespace ambit::ztunnel
