// Per-pod listeners: opened inside the pod's netns when the agent hands the pod over, closed
// when it is deleted.

#include "common/async/spawn.h"
#include "common/log.h"
#include "common/netns.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/ztunnel_impl.h"

namespace ambit::ztunnel {

namespace {

Result<std::unique_ptr<tcp::acceptor>> podAcceptor(asio::io_context& io, int netns,
                                                   const Endpoint& ep, bool v6_only) {
  auto fd = podListener(netns, ep, v6_only);
  if (!fd) return fd.error();
  boost::system::error_code ec;
  auto a = std::make_unique<tcp::acceptor>(io);
  a->assign(ep.protocol(), fd->release(), ec);
  if (ec)
    return makeError("assign listener {}:{}: {}", ep.address().to_string(), ep.port(),
                     ec.message());
  return a;
}

// Lets a listener closed during an upgrade hand its queued connections to the new ztunnel's
// listener of the same SO_REUSEPORT group instead of resetting them.
void enableRequestMigration(int netns) {
  (void)writeSysctlInNetns(netns, "net/ipv4/tcp_migrate_req", "1");
}

}  // namespace

Status Ztunnel::Impl::openPod(std::shared_ptr<Pod> pod) {
  const std::string& uid = pod->info.uid();
  std::string td =
      pod->info.trust_domain().empty() ? options.trust_domain : pod->info.trust_domain();
  auto id = identity::SpiffeId::make(td, pod->info.namespace_(), pod->info.service_account());
  if (!id) return id.error().context("pod " + uid);
  pod->spiffe_id = id->toString();  // also for a repeated add: the caller waits on it
  if (auto it = pods.find(uid); it != pods.end()) {
    it->second->seen_in_snapshot = true;  // already served (PodKeep or a repeated add)
    return Status::ok();
  }
  if (draining) return makeError("pod {}: ztunnel is draining", uid);
  for (const auto& a : pod->info.addresses()) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(a, ec);
    if (ec) return makeError("pod {}: bad address '{}'", uid, a);
    pod->ips.push_back(ip);
  }
  int ns = pod->netns.get();
  enableRequestMigration(ns);
  std::string where = "pod " + uid;
  for (const char* lo : {"127.0.0.1", "::1"}) {
    auto a = podAcceptor(io, ns, Endpoint(asio::ip::make_address(lo), AMBIT_PORT_OUTBOUND), true);
    if (!a) return a.error().context(where + ": outbound listener");
    pod->outbound.push_back(std::move(*a));
  }
  auto any6 = asio::ip::address_v6::any();
  auto in = podAcceptor(io, ns, Endpoint(any6, AMBIT_PORT_INBOUND), false);
  if (!in) return in.error().context(where + ": inbound plaintext listener");
  pod->inbound_plaintext = std::move(*in);
  for (const auto& ip : pod->info.addresses()) {
    auto bip = bpf::IpAddr::parse(ip);
    if (!bip) return bip.error().context(where);
    AMBIT_TRY(capture->registerInboundListener(*bip, pod->inbound_plaintext->native_handle()));
  }
  auto hb = podAcceptor(io, ns, Endpoint(any6, AMBIT_PORT_HBONE), false);
  if (!hb) return hb.error().context(where + ": HBONE listener");

  identities->acquire(*id);
  pod->tls = identities->tls(pod->spiffe_id);
  hbone::ServerOptions sopts;
  sopts.handshake_timeout = options.handshake_timeout;
  std::weak_ptr<Pod> weak = pod;
  sopts.on_tunnel_closed = [this, weak](const hbone::ConnectRequest& r,
                                        const hbone::SpliceResult& s) {
    if (auto p = weak.lock()) onHboneClosed(p, r, s);
  };
  pod->hbone = std::make_unique<hbone::HboneServer>(
      io.get_executor(), *pod->tls->server, identities->peerVerifier(),
      [this, weak](const hbone::ConnectRequest& r) -> asio::awaitable<hbone::ConnectOutcome> {
        auto p = weak.lock();
        if (!p) co_return 503;
        co_return co_await onHboneConnect(p, r);
      },
      sopts);
  pod->hbone_pending = std::move(*hb);
  pods[uid] = pod;
  for (auto& a : pod->outbound) acceptOutbound(pod, *a);
  acceptPlaintext(pod);
  logInfo("pod {} ({}): listening on 15001, 15006, 15008 in its netns", uid, pod->spiffe_id);
  return Status::ok();
}

Status Ztunnel::Impl::startHbone(const std::string& uid) {
  auto it = pods.find(uid);
  if (it == pods.end() || !it->second->hbone_pending) return Status::ok();  // gone, or serving
  auto acceptor = std::move(it->second->hbone_pending);
  Status st = it->second->hbone->listen(std::move(*acceptor));
  if (!st) return st.error().context("pod " + uid + ": HBONE");
  return Status::ok();
}

void Ztunnel::Impl::closePod(const std::string& uid) {
  auto it = pods.find(uid);
  if (it == pods.end()) return;
  auto pod = it->second;
  pods.erase(it);
  boost::system::error_code ignored;
  for (auto& a : pod->outbound) a->close(ignored);
  for (const auto& ip : pod->info.addresses()) {
    if (auto bip = bpf::IpAddr::parse(ip)) (void)capture->unregisterInboundListener(*bip);
  }
  if (pod->inbound_plaintext) pod->inbound_plaintext->close(ignored);
  if (pod->hbone_pending) pod->hbone_pending->close(ignored);
  if (pod->hbone) pod->hbone->close();
  if (auto id = identity::SpiffeId::parse(pod->spiffe_id)) identities->release(*id);
  logInfo("pod {}: removed, listeners closed", uid);
}

void Ztunnel::Impl::acceptOutbound(std::shared_ptr<Pod> pod, tcp::acceptor& acceptor) {
  acceptor.async_accept([this, pod, &acceptor](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) spawn(io, serveOutbound(pod, std::move(s)), "outbound connection");
    acceptOutbound(pod, acceptor);
  });
}

void Ztunnel::Impl::acceptPlaintext(std::shared_ptr<Pod> pod) {
  pod->inbound_plaintext->async_accept([this, pod](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !pod->inbound_plaintext->is_open()) return;
    if (!ec) spawn(io, servePlaintext(pod, std::move(s)), "inbound plaintext connection");
    acceptPlaintext(pod);
  });
}

}  // namespace ambit::ztunnel
