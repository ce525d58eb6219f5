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

#include "common/admin/access_log.h"
#include "ztunnel/capture_maps.h"
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

  // Serves one connection accepted on `pod`'s 15001 until it ends.
  boost::asio::awaitable<void> serve(std::shared_ptr<Pod> pod, boost::asio::ip::tcp::socket app);

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
    std::string protocol;  // "HBONE" or "TCP"
  };
  const std::map<uint64_t, LiveConnection>& connections() const { return live_->open; }

 private:
  // A connection that reached its target: its counters and byte counts.
  struct Carried {
    ConnectionMetrics metrics;
    uint64_t sent = 0;      // app -> destination
    uint64_t received = 0;  // destination -> app
  };

  boost::asio::awaitable<Result<Carried>> passthrough(const Pod& pod, const OutboundTarget& target,
                                                      boost::asio::ip::tcp::socket& app,
                                                      const ConnectionLabels& labels);
  boost::asio::awaitable<Result<Carried>> viaHbone(const Pod& pod, const OutboundTarget& target,
                                                   const Endpoint& original_dst,
                                                   boost::asio::ip::tcp::socket& app,
                                                   const ConnectionLabels& labels);

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
    std::map<uint64_t, LiveConnection> open;
  };
  std::shared_ptr<LiveSet> live_ = std::make_shared<LiveSet>();
};

}  // namespace ambit::ztunnel
