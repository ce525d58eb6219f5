#include "ztunnel/outbound_proxy.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "common/hbone/protocol.h"
#include "common/log.h"
#include "ztunnel/connection_log.h"
#include "ztunnel/tcp_splice.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kCertificatePoll = std::chrono::milliseconds(10);

Endpoint toEndpoint(const bpf::SockAddr& a) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(a.ip.toString(), ec);
  return Endpoint(ec ? Address() : ip, a.port);
}

const char* kindName(OutboundTarget::Kind k) {
  switch (k) {
    case OutboundTarget::Kind::kMeshWorkload:
      return "hbone";
    case OutboundTarget::Kind::kWaypoint:
      return "waypoint";
    case OutboundTarget::Kind::kPassthrough:
      return "passthrough";
  }
  return "?";
}

}  // namespace

OutboundProxy::OutboundProxy(asio::io_context& io, OriginalDstLookup& original_dst,
                             PodSocketFactory& sockets, TunnelDialer& dialer,
                             const ConfigProvider& config, TcpMetrics& metrics,
                             admin::AccessLogFormat access_log)
    : io_(io),
      original_dst_(original_dst),
      sockets_(sockets),
      dialer_(dialer),
      config_(config),
      metrics_(metrics),
      access_log_(access_log) {}

// The state a carried connection keeps: the connection count and live entry (Done), its
// lease, the configuration its labels point into, the access-log record and its counters.
struct OutboundProxy::Carry {
  struct Done {
    std::shared_ptr<size_t> n;
    std::shared_ptr<LiveSet> live;
    uint64_t id;
    Done(std::shared_ptr<size_t> count, std::shared_ptr<LiveSet> set, uint64_t live_id)
        : n(std::move(count)), live(std::move(set)), id(live_id) {
      ++*n;
    }
    Done(const Done&) = delete;
    Done& operator=(const Done&) = delete;
    ~Done() {
      --*n;
      live->open.erase(id);
    }
  };

  Carry(std::shared_ptr<size_t> active, std::shared_ptr<LiveSet> live, uint64_t id,
        ConnectionLimits::Lease l, std::shared_ptr<Pod> from, admin::AccessLogFormat format)
      : done(std::move(active), std::move(live), id),
        lease(std::move(l)),
        pod(std::move(from)),
        access_log(format) {
    done.live->open[id] = this;
  }

  // The connection ended: `sent` app -> destination, `received` back; `failure` how it ended
  // if not with a clean close both ways.
  void finish(uint64_t sent, uint64_t received, const Status& failure = Status::ok()) {
    // Istio's meaning: received = request bytes (towards the destination), sent = response.
    metrics.addReceived(sent);
    metrics.addSent(received);
    metrics.closed();
    log.bytes_sent = sent;
    log.bytes_recv = received;
    log.reason.clear();
    log.error = failure ? std::string() : failure.message();
    admin::writeAccessLog(log.record(), access_log);
  }

  Done done;
  ConnectionLimits::Lease lease;
  std::shared_ptr<Pod> pod;
  std::shared_ptr<const ZtunnelConfig> config;
  ConnectionLog log;
  ConnectionMetrics metrics;
  admin::AccessLogFormat access_log;
};

asio::awaitable<void> OutboundProxy::serve(std::shared_ptr<Pod> pod, tcp::socket app,
                                           ConnectionLimits::Lease lease) {
  const uint64_t live_id = live_->next_id++;
  auto carry = std::make_unique<Carry>(active_, live_, live_id, std::move(lease), pod, access_log_);

  auto orig = original_dst_.originalDst(app.native_handle());
  if (!orig || !*orig) {
    logWarn("pod {}: outbound connection with no recorded original destination: {}",
            pod->info.uid(), orig ? "not captured" : orig.error().message);
    co_return;
  }
  Endpoint dst = toEndpoint(**orig);
  // Held for the whole connection: the targets and labels point into it.
  carry->config = config_.current();
  if (!carry->config) {
    logWarn("pod {}: no configuration yet, refusing connection to {}", pod->info.uid(),
            hbone::formatAuthority(dst));
    co_return;
  }
  const MeshState& st = *carry->config->state;
  ConnectionLabels labels;
  labels.reporter = "source";
  labels.source = st.workloadByUid(pod->info.uid());
  labels.source_principal = pod->spiffe_id;
  ConnectionLog& log = carry->log;
  log.direction = "outbound";
  boost::system::error_code peer_ec;
  log.src_addr = app.remote_endpoint(peer_ec);
  log.dst_addr = dst;
  const std::vector<OutboundTarget> targets = st.resolveOutbound(dst, pick_++);
  // A ztunnel that takes over from another one (an upgrade) is given connections from the
  // moment its listeners join the pod's SO_REUSEPORT group, which may be before the pod's
  // certificate has arrived (~50 ms on the test node): HBONE waits for it, bounded, rather than
  // reset the app's connection.
  if (std::any_of(targets.begin(), targets.end(), [](const OutboundTarget& t) {
        return t.kind != OutboundTarget::Kind::kPassthrough;
      })) {
    asio::steady_timer wait(io_);
    const auto give_up = std::chrono::steady_clock::now() + certificate_wait_;
    while (!(pod->tls && pod->tls->cert) && std::chrono::steady_clock::now() < give_up) {
      wait.expires_after(kCertificatePoll);
      co_await wait.async_wait(asio::use_awaitable);
    }
  }
  for (const auto& t : targets) {
    labels.destination = t.workload;
    labels.destination_service =
        t.service ? t.service : (t.workload ? st.serviceOfWorkload(t.workload->uid()) : nullptr);
    labels.mutual_tls = t.kind != OutboundTarget::Kind::kPassthrough;
    labels.destination_principal =
        t.expected_identities.empty() ? "unknown" : t.expected_identities[0];
    log.describe(labels);
    log.protocol = t.kind == OutboundTarget::Kind::kPassthrough ? "TCP" : "HBONE";
    log.dst_hbone_addr = t.kind == OutboundTarget::Kind::kPassthrough ? Endpoint() : t.connect_to;
    Status connected = Status::ok();
    if (t.kind == OutboundTarget::Kind::kPassthrough) {
      auto up = co_await connectPassthrough(*pod, t);
      if (up) {
        carry->metrics = metrics_.opened(labels);
        std::shared_ptr<Carry> carried = std::move(carry);
        spliceTcp(std::move(app), std::move(*up), [carried](const TcpSpliceResult& r) {
          carried->finish(r.a_to_b, r.b_to_a, r.status);
        });
        co_return;
      }
      connected = up.error();
    } else {
      auto tunnel = co_await dialHbone(*pod, t, dst);
      if (tunnel) {
        carry->metrics = metrics_.opened(labels);
        // No coroutine carries it (nor a passthrough): the splice's callbacks do.
        std::shared_ptr<Carry> carried = std::move(carry);
        (*tunnel)->splice(std::move(app), [carried](const hbone::SpliceResult& r) {
          carried->finish(r.bytes_sent, r.bytes_received, r.status);
        });
        co_return;
      }
      connected = tunnel.error();
    }
    metrics_.failed(labels, "upstream_connect");
    logWarn("outbound {} -> {} via {} {}: {}", pod->info.uid(), hbone::formatAuthority(dst),
            kindName(t.kind), hbone::formatAuthority(t.connect_to), connected.message());
    log.reason = "upstream connect failed";
    log.error = connected.message();
    // next endpoint, if any
  }
  if (targets.empty()) log.reason = "no endpoint";
  log.response_flags = targets.empty() ? "UH" : "UF";
  admin::writeAccessLog(log.record(), access_log_);
  // RST: the app sees a refusal. The close must be explicit: a socket's destructor turns
  // SO_LINGER off before closing (so it never blocks), which would send a FIN instead.
  boost::system::error_code ignored;
  app.set_option(asio::socket_base::linger(true, 0), ignored);
  app.close(ignored);
}

std::vector<OutboundProxy::LiveConnection> OutboundProxy::connections() const {
  std::vector<LiveConnection> out;
  out.reserve(live_->open.size());
  auto authority = [](const Endpoint& e) {
    return e.port() == 0 ? std::string() : hbone::formatAuthority(e);
  };
  for (const auto& [id, c] : live_->open) {
    out.push_back(LiveConnection{c->pod->info.uid(), authority(c->log.src_addr),
                                 authority(c->log.dst_addr), authority(c->log.dst_hbone_addr),
                                 c->log.protocol});
  }
  return out;
}

asio::awaitable<Result<tcp::socket>> OutboundProxy::connectPassthrough(const Pod& pod,
                                                                       const OutboundTarget& t) {
  auto fd = sockets_.socket(pod.netns.get(), t.connect_to.address().is_v6() ? AF_INET6 : AF_INET);
  if (!fd) co_return fd.error();
  tcp::socket up(io_);
  boost::system::error_code ec;
  up.assign(t.connect_to.protocol(), fd->get(), ec);
  if (!ec) (void)fd->release();  // the socket owns it now
  if (!ec) co_await up.async_connect(t.connect_to, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return makeError("connect {}: {}", hbone::formatAuthority(t.connect_to), ec.message());
  }
  co_return std::move(up);
}

asio::awaitable<Result<std::unique_ptr<Tunnel>>> OutboundProxy::dialHbone(const Pod& pod,
                                                                          const OutboundTarget& t,
                                                                          const Endpoint& dst) {
  auto tls = pod.tls;
  if (!tls || !tls->cert) co_return makeError("no certificate for {} yet", pod.spiffe_id);
  hbone::Destination d;
  d.source_identity = pod.spiffe_id;
  d.source_scope = pod.info.uid();  // the socket is made in this pod's netns
  d.tls = tls->client;
  d.address = t.connect_to;
  d.expected_server_ids = t.expected_identities;
  d.socket_factory = [&sockets = sockets_, ns = pod.netns.get()](int family) -> Result<int> {
    auto fd = sockets.socket(ns, family);
    if (!fd) return fd.error();
    return fd->release();
  };
  hbone::TunnelRequest req;
  req.authority = hbone::formatAuthority(t.authority);
  if (!pod.ips.empty()) req.source = pod.ips.front();
  auto tunnel = co_await dialer_.dial(d, req);
  // No response at all (REFUSED_STREAM, or a stream past the GOAWAY of a peer ztunnel draining
  // during an upgrade): the tunnel never reached the app and the app's bytes are still unread
  // here, so one more try (on a fresh connection) is safe.
  if (!tunnel && tunnel.error().code == ECONNRESET) {
    logDebug("outbound {} -> {}: {}; retrying once", pod.info.uid(), hbone::formatAuthority(dst),
             tunnel.error().message);
    tunnel = co_await dialer_.dial(d, req);
  }
  co_return tunnel;
}

}  // namespace ambit::ztunnel
