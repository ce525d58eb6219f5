#pragma once
// Inbound: HBONE tunnels (a pod's 15008) and steered plaintext (its 15006) to the pod's app,
// after L4 policy (inbound_policy.h).
//
// HBONE CONNECT decisions (onHboneConnect, HboneServer's ConnectHandler):
//   400  the authority is not one of the pod's IPs, or is a ztunnel port (15001/15006/15008)
//   401  AuthorizationPolicy denies the connection
//   503  the app refused or did not answer
//   else the connected app socket (the server splices the tunnel to it) and what to do when the
//   tunnel ends (hbone::SpliceTo).
// Plaintext (servePlaintext) is closed when PeerAuthentication requires mTLS or policy denies.
// The app is reached inside the pod's netns from the client's own IP (IP_TRANSPARENT, the
// ConnectGate listing the connect) when the agent installed reply routing for the pod, else
// (or when that setup fails) from loopback. Admitted connections are tracked for the late
// policy re-check (ConnectionTracker) and counted (reporter="destination"), with an access log.
//
// Ownership: the caller owns the proxy and its dependencies; they must outlive it and every
// connection it serves. Thread: the data thread (the io_context given) only.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

#include "common/hbone/server.h"
#include "ztunnel/capture_maps.h"
#include "ztunnel/connection_limits.h"
#include "ztunnel/connection_log.h"
#include "ztunnel/connection_tracker.h"
#include "ztunnel/metrics.h"
#include "ztunnel/pod.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel {

class InboundProxy {
 public:
  InboundProxy(boost::asio::io_context& io, InboundConnectGate& gate, PodSocketFactory& sockets,
               const ConfigProvider& config, TcpMetrics& metrics, ConnectionTracker& tracker,
               admin::AccessLogFormat access_log);

  // An admitted tunnel is a SpliceTo whose on_closed counts, logs and untracks it, and frees
  // `lease` (its connection-limit slot).
  boost::asio::awaitable<hbone::ConnectOutcome> onHboneConnect(std::shared_ptr<Pod> pod,
                                                               const hbone::ConnectRequest& req,
                                                               ConnectionLimits::Lease lease = {});
  // Sets up one connection accepted on `pod`'s 15006 and starts carrying it (spliceTcp, no
  // coroutine); completes once it is carried or refused. `lease` (its connection-limit slot)
  // is held until the connection ends.
  boost::asio::awaitable<void> servePlaintext(std::shared_ptr<Pod> pod,
                                              boost::asio::ip::tcp::socket client,
                                              ConnectionLimits::Lease lease = {});

 private:
  // What an admitted tunnel keeps while it is open (in its on_closed, the only place).
  struct AdmittedTunnel {
    ConnectionMetrics metrics;
    uint64_t tracker_id = 0;
    ConnectionLog log;                            // written when the tunnel closes
    std::shared_ptr<const ZtunnelConfig> config;  // what the log's workloads point into
    ConnectionLimits::Lease lease;
  };
  void tunnelClosed(AdmittedTunnel& tunnel, const hbone::SpliceResult& result);
  struct PlaintextCarry;

  // To the app at `target` inside the pod's netns: from `client` (the original source) when
  // the pod preserves sources, else (or if that setup fails) from loopback. The source port
  // never repeats a live steered connection's 4-tuple (Pod::steered).
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connectToApp(const Pod& pod,
                                                                            const Endpoint& target,
                                                                            const Address& client);
  // `dialled`: the SYN went out (a failure then is the app's answer, not a setup problem).
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connectFromClient(
      const Pod& pod, const Endpoint& target, const Address& client, bool& dialled);
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connectFromLoopback(
      const Pod& pod, const Endpoint& target);

  boost::asio::io_context& io_;
  InboundConnectGate& gate_;
  PodSocketFactory& sockets_;
  const ConfigProvider& config_;
  TcpMetrics& metrics_;
  ConnectionTracker& tracker_;
  admin::AccessLogFormat access_log_;
};

}  // namespace ambit::ztunnel
