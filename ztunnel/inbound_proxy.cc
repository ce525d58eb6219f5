#include "ztunnel/inbound_proxy.h"

#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ambit/abi.h"
#include "common/hbone/protocol.h"
#include "common/log.h"
#include "ztunnel/inbound_policy.h"
#include "ztunnel/tcp_splice.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

Address unmapped(const Address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

rbac::IpAddress toRbac(const Address& a) {
  return a.is_v4() ? rbac::IpAddress::v4(a.to_v4().to_uint())
                   : rbac::IpAddress::v6(a.to_v6().to_bytes());
}

bool isProxyPort(uint16_t port) {
  return port == AMBIT_PORT_OUTBOUND || port == AMBIT_PORT_INBOUND || port == AMBIT_PORT_HBONE;
}

// A connect to the app is local to the pod's netns: it answers at once or not at all.
constexpr auto kAppConnectTimeout = std::chrono::seconds(3);

std::optional<bpf::SockAddr> toBpf(const Endpoint& ep) {
  auto ip = bpf::IpAddr::parse(ep.address().to_string());
  if (!ip) return std::nullopt;
  return bpf::SockAddr{*ip, ep.port()};
}

// Transparent (may bind a foreign address) and marked for the agent's reply routing.
Status makeTransparent(int fd, bool v6) {
  int one = 1;
  int rc = v6 ? ::setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
              : ::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
  if (rc != 0) return errnoError(v6 ? "setsockopt IPV6_TRANSPARENT" : "setsockopt IP_TRANSPARENT");
  int mark = AMBIT_INBOUND_MARK;
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    return errnoError("setsockopt SO_MARK");
  }
  return Status::ok();
}

// Labels of a connection from `peer` into `pod`; they point into `config`, which the caller
// holds while it uses them.
ConnectionLabels destinationLabels(const Pod& pod, const Address& peer,
                                   const ZtunnelConfig* config) {
  ConnectionLabels labels;
  labels.reporter = "destination";
  labels.destination_principal = pod.spiffe_id;
  if (config) {
    labels.source = config->state->workloadByIp(unmapped(peer));
    labels.destination = config->state->workloadByUid(pod.info.uid());
    labels.destination_service = config->state->serviceOfWorkload(pod.info.uid());
  }
  return labels;
}

// A connection the late policy re-check closed (`why` from ConnectionTracker::remove(), empty
// if it ended by itself) is recorded as denied, with the reason.
void noteRevoked(std::string why, ConnectionLog& log) {
  if (why.empty()) return;
  log.authz = "deny";
  log.reason = "policy changed: " + why;
  log.response_flags = "DENY";
}

}  // namespace

InboundProxy::InboundProxy(asio::io_context& io, InboundConnectGate& gate,
                           PodSocketFactory& sockets, const ConfigProvider& config,
                           TcpMetrics& metrics, ConnectionTracker& tracker,
                           admin::AccessLogFormat access_log)
    : io_(io),
      gate_(gate),
      sockets_(sockets),
      config_(config),
      metrics_(metrics),
      tracker_(tracker),
      access_log_(access_log) {}

asio::awaitable<Result<tcp::socket>> InboundProxy::connectFromClient(const Pod& pod,
                                                                     const Endpoint& target,
                                                                     const Address& client,
                                                                     bool& dialled) {
  dialled = false;
  const bool v6 = target.address().is_v6();
  tcp::socket s(io_);
  boost::system::error_code ec;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto fd = sockets_.socket(pod.netns.get(), v6 ? AF_INET6 : AF_INET);
    if (!fd) co_return fd.error();
    if (Status st = makeTransparent(fd->get(), v6); !st) co_return st.error();
    s = tcp::socket(io_);
    s.assign(v6 ? tcp::v6() : tcp::v4(), fd->get(), ec);
    if (!ec) (void)fd->release();  // the socket owns it now
    if (!ec) s.bind(Endpoint(client, 0), ec);
    if (ec) co_return makeError("bind {}: {}", client.to_string(), ec.message());
    const uint16_t port = s.local_endpoint(ec).port();
    if (!pod.steered.count({client, port, target.port()})) break;
    s.close(ec);  // that 4-tuple is a live steered connection's: another port
  }
  if (!s.is_open()) co_return makeError("no source port on {}", client.to_string());
  auto from = toBpf(s.local_endpoint(ec));
  auto to = toBpf(target);
  if (ec || !from || !to) co_return makeError("connect from {}: bad address", client.to_string());
  // Listed while the SYN is in flight, so the pod's sk_lookup does not steer it to 15006.
  if (Status st = gate_.allow(*from, *to); !st) co_return st.error();
  dialled = true;
  asio::steady_timer timer(io_, kAppConnectTimeout);
  // The handler may already be queued when the connect completes: `done` (which outlives this
  // frame) keeps it from touching the socket after we returned.
  auto done = std::make_shared<bool>(false);
  timer.async_wait([&s, done](boost::system::error_code tec) {
    if (!tec && !*done) s.cancel();
  });
  co_await s.async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
  *done = true;
  timer.cancel();
  (void)gate_.end(*from, *to);
  if (ec) {
    co_return makeError("app at {} from {}: {}", hbone::formatAuthority(target), client.to_string(),
                        ec == asio::error::operation_aborted ? "timed out" : ec.message());
  }
  co_return std::move(s);
}

asio::awaitable<Result<tcp::socket>> InboundProxy::connectFromLoopback(const Pod& pod,
                                                                       const Endpoint& target) {
  std::vector<Address> tries;
  if (target.address().is_v6()) tries.push_back(asio::ip::address_v6::loopback());
  tries.push_back(asio::ip::address_v4::loopback());
  Error last;
  for (const auto& lo : tries) {
    auto fd = sockets_.socket(pod.netns.get(), lo.is_v6() ? AF_INET6 : AF_INET);
    if (!fd) co_return fd.error();
    tcp::socket s(io_);
    boost::system::error_code ec;
    Endpoint ep(lo, target.port());
    s.assign(ep.protocol(), fd->get(), ec);
    if (!ec) (void)fd->release();  // the socket owns it now
    if (!ec) co_await s.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return std::move(s);
    last = makeError("app at {}: {}", hbone::formatAuthority(ep), ec.message());
  }
  co_return last;
}

asio::awaitable<Result<tcp::socket>> InboundProxy::connectToApp(const Pod& pod,
                                                                const Endpoint& target,
                                                                const Address& client) {
  if (pod.info.preserve_source() && client.is_v6() == target.address().is_v6() &&
      !client.is_loopback()) {
    bool dialled = false;
    auto s = co_await connectFromClient(pod, target, client, dialled);
    if (s) co_return std::move(*s);
    // The app refused or did not answer on its pod IP: no loopback retry, which would reach
    // listeners bound to 127.0.0.1 only (Istio's in-pod ztunnel does not either).
    if (dialled) co_return s.error();
    logDebug("inbound {}: {}; trying loopback", pod.info.uid(), s.error().message);
  }
  co_return co_await connectFromLoopback(pod, target);
}

asio::awaitable<hbone::ConnectOutcome> InboundProxy::onHboneConnect(
    std::shared_ptr<Pod> pod, const hbone::ConnectRequest& req, ConnectionLimits::Lease lease) {
  Address dst_ip = unmapped(req.target.address());
  bool ours = std::find(pod->ips.begin(), pod->ips.end(), dst_ip) != pod->ips.end();
  if (!ours || isProxyPort(req.target.port())) {
    logWarn("inbound {}: refused {} from {}: {}", pod->info.uid(), req.authority, req.peer_identity,
            ours ? "a self-call to a ztunnel port" : "authority is not this pod");
    co_return 400;
  }
  rbac::Attributes attrs;
  attrs.source_ip = toRbac(req.peer_address.address());
  attrs.destination_ip = toRbac(dst_ip);
  attrs.destination_port = req.target.port();
  attrs.source_principal = req.peer_identity;
  // Held for the whole connect: the labels point into it, and a config update during the
  // co_await below replaces the current one.
  const std::shared_ptr<const ZtunnelConfig> config = config_.current();
  ConnectionLabels labels = destinationLabels(*pod, req.peer_address.address(), config.get());
  labels.source_principal = req.peer_identity;
  labels.mutual_tls = true;
  ConnectionLog log;
  log.direction = "inbound";
  log.protocol = "HBONE";
  log.src_addr = Endpoint(unmapped(req.peer_address.address()), req.peer_address.port());
  log.dst_addr = Endpoint(dst_ip, req.target.port());
  log.describe(labels);
  rbac::Decision d = authorizeInbound(*pod, attrs, config.get());
  log.policy = std::string(d.policy);
  if (!d.allowed) {
    labels.response_flags = "DENY";
    metrics_.failed(labels, "policy_denied");
    log.authz = "deny";
    log.reason = std::string(d.reasonText());
    log.response_flags = "DENY";
    admin::writeAccessLog(log.record(), access_log_);
    co_return 401;
  }
  auto app = co_await connectToApp(*pod, Endpoint(dst_ip, req.target.port()),
                                   unmapped(req.peer_address.address()));
  if (!app) {
    labels.response_flags = "UF";
    metrics_.failed(labels, "app_unreachable");
    log.reason = "app unreachable";
    log.error = app.error().message;
    log.response_flags = "UF";
    admin::writeAccessLog(log.record(), access_log_);
    co_return 503;
  }
  TrackedConnection tc{pod->info.uid(),
                       attrs.source_ip,
                       attrs.destination_ip,
                       attrs.destination_port,
                       req.peer_identity,
                       app->native_handle(),
                       0};
  auto admitted = std::make_shared<AdmittedTunnel>(AdmittedTunnel{
      metrics_.opened(labels), tracker_.add(tc), std::move(log), config, std::move(lease)});
  co_return hbone::SpliceTo{std::move(*app), [this, admitted](const hbone::SpliceResult& r) {
                              tunnelClosed(*admitted, r);
                            }};
}

void InboundProxy::tunnelClosed(AdmittedTunnel& t, const hbone::SpliceResult& r) {
  noteRevoked(tracker_.remove(t.tracker_id), t.log);
  // Istio's meaning: received = request bytes (tunnel -> app), sent = response (app -> tunnel).
  t.metrics.addReceived(r.bytes_received);
  t.metrics.addSent(r.bytes_sent);
  t.metrics.closed();
  t.log.bytes_sent = r.bytes_received;
  t.log.bytes_recv = r.bytes_sent;
  if (!r.status) t.log.error = r.status.message();  // reset, or never answered
  admin::writeAccessLog(t.log.record(), access_log_);
}

// What a carried plaintext connection keeps (in its splice's callback, the only place): its
// entry in Pod::steered, the records, the configuration they point into, its lease.
struct InboundProxy::PlaintextCarry {
  using Steered = decltype(Pod::steered)::iterator;
  PlaintextCarry(std::shared_ptr<Pod> p, Steered it, ConnectionLimits::Lease l)
      : pod(std::move(p)), steered(it), lease(std::move(l)) {}
  PlaintextCarry(const PlaintextCarry&) = delete;
  PlaintextCarry& operator=(const PlaintextCarry&) = delete;
  ~PlaintextCarry() { pod->steered.erase(steered); }

  std::shared_ptr<Pod> pod;
  Steered steered;
  ConnectionLimits::Lease lease;
  std::shared_ptr<const ZtunnelConfig> config;
  ConnectionLog log;
  ConnectionMetrics metrics;
  uint64_t tracker_id = 0;
};

asio::awaitable<void> InboundProxy::servePlaintext(std::shared_ptr<Pod> pod, tcp::socket client,
                                                   ConnectionLimits::Lease lease) {
  boost::system::error_code ec;
  Endpoint local = client.local_endpoint(ec);
  Endpoint peer = client.remote_endpoint(ec);
  if (ec) co_return;
  Address dst_ip = unmapped(local.address());
  // Listed while the connection lives (see Pod::steered).
  auto carry = std::make_shared<PlaintextCarry>(
      pod, pod->steered.insert({unmapped(peer.address()), peer.port(), local.port()}),
      std::move(lease));
  rbac::Attributes attrs;
  attrs.source_ip = toRbac(peer.address());
  attrs.destination_ip = toRbac(dst_ip);
  attrs.destination_port = local.port();
  carry->config = config_.current();  // as above
  const ZtunnelConfig* config = carry->config.get();
  ConnectionLabels labels = destinationLabels(*pod, peer.address(), config);
  ConnectionLog& log = carry->log;
  log.direction = "inbound";
  log.protocol = "TCP";
  log.src_addr = Endpoint(unmapped(peer.address()), peer.port());
  log.dst_addr = Endpoint(dst_ip, local.port());
  log.describe(labels);
  if (!plaintextAllowed(*pod, local.port(), config)) {
    labels.response_flags = "DENY";
    metrics_.failed(labels, "mtls_required");
    log.authz = "deny";
    log.reason = "PeerAuthentication STRICT";
    log.response_flags = "DENY";
    admin::writeAccessLog(log.record(), access_log_);
    co_return;
  }
  rbac::Decision d = authorizeInbound(*pod, attrs, config);
  log.policy = std::string(d.policy);
  if (!d.allowed) {
    labels.response_flags = "DENY";
    metrics_.failed(labels, "policy_denied");
    log.authz = "deny";
    log.reason = std::string(d.reasonText());
    log.response_flags = "DENY";
    admin::writeAccessLog(log.record(), access_log_);
    co_return;
  }
  auto app = co_await connectToApp(*pod, Endpoint(dst_ip, local.port()), unmapped(peer.address()));
  if (!app) {
    labels.response_flags = "UF";
    metrics_.failed(labels, "app_unreachable");
    log.reason = "app unreachable";
    log.error = app.error().message;
    log.response_flags = "UF";
    admin::writeAccessLog(log.record(), access_log_);
    co_return;
  }
  TrackedConnection tc{pod->info.uid(),
                       attrs.source_ip,
                       attrs.destination_ip,
                       attrs.destination_port,
                       "",
                       client.native_handle(),
                       0};
  carry->tracker_id = tracker_.add(tc);
  carry->metrics = metrics_.opened(labels);
  spliceTcp(std::move(client), std::move(*app), [this, carry](const TcpSpliceResult& r) {
    noteRevoked(tracker_.remove(carry->tracker_id), carry->log);
    carry->metrics.addReceived(r.a_to_b);
    carry->metrics.addSent(r.b_to_a);
    carry->metrics.closed();
    carry->log.bytes_sent = r.a_to_b;
    carry->log.bytes_recv = r.b_to_a;
    if (!r.status) carry->log.error = r.status.message();
    admin::writeAccessLog(carry->log.record(), access_log_);
  });
}

}  // namespace ambit::ztunnel
