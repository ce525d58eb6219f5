// Outbound: a connection captured on 15001 goes to its original destination through HBONE
// (mesh destinations, with the source pod's certificate) or plain TCP (outside the mesh).
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/hbone/protocol.h"
#include "common/log.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/tcp_splice.h"
#include "ztunnel/ztunnel_impl.h"

namespace ambit::ztunnel {

namespace {

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

asio::awaitable<void> Ztunnel::Impl::serveOutbound(std::shared_ptr<Pod> pod, tcp::socket app) {
  ++outbound_active;
  struct Done {
    size_t& n;
    ~Done() { --n; }
  } done{outbound_active};

  auto orig = capture->lookupOriginalDst(app.native_handle());
  if (!orig || !*orig) {
    logWarn("pod {}: outbound connection with no recorded original destination: {}",
            pod->info.uid(), orig ? "not captured" : orig.error().message);
    co_return;
  }
  Endpoint dst = toEndpoint(**orig);
  auto st = state;
  if (!st) {
    logWarn("pod {}: no configuration yet, refusing connection to {}", pod->info.uid(),
            hbone::formatAuthority(dst));
    co_return;
  }
  ConnectionLabels labels;
  labels.reporter = "source";
  labels.source = st->workloadByUid(pod->info.uid());
  labels.source_principal = pod->spiffe_id;
  auto start = std::chrono::steady_clock::now();
  auto targets = st->resolveOutbound(dst, pick++);
  for (const auto& t : targets) {
    labels.destination = t.workload;
    labels.destination_service =
        t.service ? t.service : (t.workload ? st->serviceOfWorkload(t.workload->uid()) : nullptr);
    labels.mutual_tls = t.kind != OutboundTarget::Kind::kPassthrough;
    labels.destination_principal =
        t.expected_identities.empty() ? "unknown" : t.expected_identities[0];
    uint64_t sent = 0, received = 0;
    Status result;
    ConnectionMetrics m;
    if (t.kind == OutboundTarget::Kind::kPassthrough) {
      auto fd = podSocket(pod->netns.get(), t.connect_to.address().is_v6() ? AF_INET6 : AF_INET);
      if (!fd) {
        result = fd.error();
      } else {
        tcp::socket up(io);
        boost::system::error_code ec;
        up.assign(t.connect_to.protocol(), fd->release(), ec);
        if (!ec)
          co_await up.async_connect(t.connect_to, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          result = makeError("connect {}: {}", hbone::formatAuthority(t.connect_to), ec.message());
        } else {
          m = metrics->opened(labels);
          auto r = co_await spliceTcp(app, up);
          sent = r.a_to_b;
          received = r.b_to_a;
        }
      }
    } else {
      auto tls = pod->tls;
      hbone::Destination d;
      d.source_identity = pod->spiffe_id;
      d.tls = tls ? tls->client : nullptr;
      d.address = t.connect_to;
      d.expected_server_ids = t.expected_identities;
      int ns = pod->netns.get();
      d.socket_factory = [ns](int family) -> Result<int> {
        auto fd = podSocket(ns, family);
        if (!fd) return fd.error();
        return fd->release();
      };
      hbone::TunnelRequest req;
      req.authority = hbone::formatAuthority(t.authority);
      if (!pod->ips.empty()) req.source = pod->ips.front();
      if (!tls || !tls->cert) {
        result = makeError("no certificate for {} yet", pod->spiffe_id);
      } else {
        auto stream = co_await pool->connect(d, req);
        // No response at all (REFUSED_STREAM, or a stream past the GOAWAY of a peer ztunnel
        // draining during an upgrade): the tunnel never reached the app and the app's bytes
        // are still unread here, so one more try (on a fresh connection) is safe.
        if (!stream && stream.error().code == ECONNRESET) {
          logDebug("outbound {} -> {}: {}; retrying once", pod->info.uid(),
                   hbone::formatAuthority(dst), stream.error().message);
          stream = co_await pool->connect(d, req);
        }
        if (!stream) {
          result = stream.error();
        } else {
          m = metrics->opened(labels);
          auto r = co_await stream->spliceWith(app);
          sent = r.bytes_sent;
          received = r.bytes_received;
        }
      }
    }
    if (!result) {
      metrics->failed(labels);
      logWarn("outbound {} -> {} via {} {}: {}", pod->info.uid(), hbone::formatAuthority(dst),
              kindName(t.kind), hbone::formatAuthority(t.connect_to), result.message());
      continue;  // next endpoint, if any
    }
    // Istio's meaning: received = request bytes (towards the destination), sent = response.
    m.addReceived(sent);
    m.addSent(received);
    m.closed();
    if (options.access_log) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
      logInfo(
          "access: outbound src={} dst={} via={} to={} peer={} sent={} received={} duration={}ms",
          pod->spiffe_id, hbone::formatAuthority(dst), kindName(t.kind),
          hbone::formatAuthority(t.connect_to), labels.destination_principal, sent, received, ms);
    }
    co_return;
  }
  boost::system::error_code ignored;
  app.set_option(asio::socket_base::linger(true, 0), ignored);  // RST: the app sees a refusal
}

}  // namespace ambit::ztunnel
