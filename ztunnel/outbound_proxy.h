#pragma once
// Outbound: a connection an enrolled pod's app made, captured on the pod's 15001, goes to its
// original destination, through HBONE with the pod's certificate (mesh workloads, waypoints)
// or as plain TCP (outside the mesh).
//
// Per connection: the original destination (OriginalDstLookup) -> candidate targets, best
// first (MeshState::resolveOutbound over the current ZtunnelConfig) -> each tried in turn:
// HBONE through the TunnelDialer (a reset with no response at all is retried once), or a
// passthrough socket from the PodSocketFactory. The first target that connects carries the
// connection; when every one fails the app's connection is reset, so the app sees a refusal.
// No original destination, or no configuration yet: the connection is closed. Istio TCP
// metrics (reporter="source") and an access log line for each connection.
//
// Memory: serve() sets a connection up in its own coroutine and hands what carrying needs (the
// two sockets or the tunnel, the access-log record, the counters, the lease) to the splice's
// callbacks (hbone::HboneStream::splice, spliceTcp): no coroutine carries a connection.
// The setup's frame (targets, labels, timers: ~3 KiB with GCC) is freed while the connection
// lives on, idle or not (BENCHMARKS.md, ztunnel memory per idle connection).
//
// Ownership: the caller owns the proxy and its dependencies; they must outlive it and every
// connection it serves. Thread: the data thread (the io_context given) only.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/admin/access_log.h"
#include "ztunnel/capture_maps.h"
#include "ztunnel/connection_limits.h"
#include "ztunnel/metrics.h"
#include "ztunnel/pod.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/tunnel_dialer.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel {

class OutboundProxy {
 public:
  OutboundProxy(boost::asio::io_context& io, OriginalDstLookup& original_dst,
                PodSocketFactory& sockets, TunnelDialer& dialer, const ConfigProvider& config,
                TcpMetrics& metrics, admin::AccessLogFormat access_log);

  // Sets up one connection accepted on `pod`'s 15001 and starts carrying it; completes once it
  // is carried (or refused). `lease` (its connection-limit slot) is held until it ends.
  boost::asio::awaitable<void> serve(std::shared_ptr<Pod> pod, boost::asio::ip::tcp::socket app,
                                     ConnectionLimits::Lease lease = {});

  // Connections being served now (drain waits for them).
  size_t active() const { return *active_; }

  // How long an HBONE connection of a pod whose certificate has not arrived yet waits for it
  // before it is reset (default 5 s).
  void setCertificateWait(std::chrono::milliseconds wait) { certificate_wait_ = wait; }

  // One connection being served, as admin /config_dump lists it.
  struct LiveConnection {
    std::string pod_uid;   // the source pod
    std::string local;     // the app's address "ip:port"
    std::string remote;    // the original destination "ip:port"
    std::string via;       // the HBONE peer "ip:port" being used; empty for passthrough
    std::string protocol;  // "HBONE" or "TCP"; empty while the first target is being tried
  };
  // Made on demand from the connections' own records (which is all they keep).
  std::vector<LiveConnection> connections() const;

 private:
  // What a connection keeps while it is carried (outbound_proxy.cc).
  struct Carry;

  // The upstream socket of a passthrough target, connected.
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connectPassthrough(
      const Pod& pod, const OutboundTarget& target);
  // A tunnel to an HBONE target (a reset with no response is retried once).
  boost::asio::awaitable<Result<std::unique_ptr<Tunnel>>> dialHbone(const Pod& pod,
                                                                    const OutboundTarget& target,
                                                                    const Endpoint& original_dst);

  boost::asio::io_context& io_;
  OriginalDstLookup& original_dst_;
  PodSocketFactory& sockets_;
  TunnelDialer& dialer_;
  const ConfigProvider& config_;
  TcpMetrics& metrics_;
  admin::AccessLogFormat access_log_;
  uint64_t pick_ = 0;  // rotates service endpoints across connections
  std::chrono::milliseconds certificate_wait_{std::chrono::seconds(5)};
  // Shared with each connection's frame, which may be destroyed after the proxy (when the
  // io_context is destroyed with connections still suspended in it).
  std::shared_ptr<size_t> active_ = std::make_shared<size_t>(0);
  struct LiveSet {
    uint64_t next_id = 1;
    std::map<uint64_t, const Carry*> open;
  };
  std::shared_ptr<LiveSet> live_ = std::make_shared<LiveSet>();
};

}  // namespace ambit::ztunnel
