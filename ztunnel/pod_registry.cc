#include "ztunnel/pod_registry.h"

#include <thread>

#include "ambit/abi.h"
#include "common/async/spawn.h"
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
      inbound_(inbound) {}

Status PodRegistry::addPod(const v1::PodInfo& info, UniqueFd netns) {
  if (!netns) return makeError("pod {}: hand-off carried no netns fd", info.uid());
  auto pod = std::make_shared<Pod>();
  pod->info = info;
  pod->netns = std::move(netns);
  AMBIT_TRY(runOnDataThread(io_, [&]() -> Status { return openPod(pod); }));
  // Serve HBONE and ack only once the pod can present its certificate (bounded wait).
  auto deadline = std::chrono::steady_clock::now() + options_.identity_wait;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    auto r =
        runOnDataThread(io_, [&]() -> Result<bool> { return identities_.ready(pod->spiffe_id); });
    ready = r && *r;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ready)
    logWarn("pod {}: no certificate for {} yet; serving HBONE anyway", info.uid(), pod->spiffe_id);
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

Status PodRegistry::openListeners(Pod& pod) {
  const int ns = pod.netns.get();
  const std::string where = "pod " + pod.info.uid();
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
  return Status::ok();
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
  std::weak_ptr<Pod> weak = pod;
  sopts.on_tunnel_closed = [this, weak](const hbone::ConnectRequest& r,
                                        const hbone::SpliceResult& s) {
    if (auto p = weak.lock()) inbound_.onHboneClosed(*p, r, s);
  };
  pod->hbone = std::make_unique<hbone::HboneServer>(
      io_.get_executor(), *pod->tls->server, identities_.peerVerifier(),
      [this, weak](const hbone::ConnectRequest& r) -> asio::awaitable<hbone::ConnectOutcome> {
        auto p = weak.lock();
        if (!p) co_return 503;
        co_return co_await inbound_.onHboneConnect(p, r);
      },
      sopts);
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
  acceptor.async_accept([this, pod, &acceptor](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) spawn(io_, outbound_.serve(pod, std::move(s)), "outbound connection");
    acceptOutbound(pod, acceptor);
  });
}

void PodRegistry::acceptPlaintext(std::shared_ptr<Pod> pod) {
  pod->inbound_plaintext->async_accept([this, pod](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !pod->inbound_plaintext->is_open()) return;
    if (!ec) spawn(io_, inbound_.servePlaintext(pod, std::move(s)), "inbound plaintext connection");
    acceptPlaintext(pod);
  });
}

}  // namespace ambit::ztunnel
