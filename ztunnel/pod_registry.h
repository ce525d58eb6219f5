#pragma once
// The pods this ztunnel serves, as the agent hands them over (PodSink), and their listeners.
//
// For each pod it opens, inside the pod's netns (through the PodSocketFactory): 15001 on
// 127.0.0.1 and [::1] (captured outbound -> OutboundProxy), [::]:15006 (plaintext steered by
// sk_lookup, registered through InboundSteering -> InboundProxy) and [::]:15008 (HBONE, an
// HboneServer with the pod's certificate -> InboundProxy). A pod is acked to the agent once
// its listeners are up and, bounded by a few seconds, its certificate is in place; HBONE is
// served only from then on (until then handshakes wait in the listen backlog). Once such a wait
// has run out, the pods handed over after it wait only briefly until the CA issues any
// certificate again: with the CA unreachable, a snapshot of N pods would otherwise hold the
// hand-off N times the wait.
//
// Threads: the PodSink methods run on the hand-off thread and move their work to the data
// thread (waiting for it); every other method runs on the data thread only.
// Ownership: the caller owns the registry and its dependencies, which must outlive it.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/identity/identity_store.h"
#include "ztunnel/capture_maps.h"
#include "ztunnel/connection_limits.h"
#include "ztunnel/handoff_client.h"
#include "ztunnel/inbound_proxy.h"
#include "ztunnel/outbound_proxy.h"
#include "ztunnel/pod.h"
#include "ztunnel/socket_util.h"

namespace ambit::ztunnel {

class PodRegistry final : public PodSink {
 public:
  struct Options {
    std::string trust_domain = "cluster.local";  // for pods handed over without one
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds http2_header_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds http2_send_stall_timeout{std::chrono::seconds(60)};
    // Inbound HBONE connections and tunnels ended by a timeout (hbone::ServerOptions).
    std::function<void(hbone::HboneTimeout)> on_hbone_timeout;
    std::chrono::milliseconds identity_wait{std::chrono::seconds(5)};  // before the ack
    // The wait of the pods handed over after one whose wait ran out (at most identity_wait).
    std::chrono::milliseconds identity_wait_after_timeout{250};
    // Per-pod and per-node connection caps (null: none). Outlives the registry.
    ConnectionLimits* limits = nullptr;
    // Where the registry's own metrics go (null: none): accept() failures for lack of fds
    // (ambit_accept_resource_exhausted_total{listener="outbound"|"inbound"|"hbone"}) and pods
    // whose listeners cannot hand queued connections to a new ztunnel on an upgrade
    // (ambit_ztunnel_listener_migration_failures_total). Outlives the registry.
    prometheus::Registry* registry = nullptr;
  };

  PodRegistry(boost::asio::io_context& io, Options options, PodSocketFactory& sockets,
              InboundSteering& steering, identity::IdentityStore& identities,
              OutboundProxy& outbound, InboundProxy& inbound);

  // PodSink (hand-off thread).
  Status addPod(const v1::PodInfo& pod, UniqueFd netns) override;
  Status deletePod(const std::string& uid) override;
  void snapshotStart() override;
  void snapshotDone() override;

  // Opens the pod's listeners and starts accepting on 15001 and 15006 (HBONE waits for
  // startHbone). A pod already served is kept as it is. Sets pod->spiffe_id in any case.
  Status openPod(std::shared_ptr<Pod> pod);
  // Starts serving HBONE for a pod opened by openPod (once its certificate is there).
  Status startHbone(const std::string& uid);
  void closePod(const std::string& uid);
  // Drain: closes every pod's 15001 and 15006 listeners and refuses new pods from now on
  // (HBONE servers are drained by the caller).
  void stopAccepting();

  // Upgrade hand-over: the pods in which no successor ztunnel listens yet, i.e. no listener on
  // [::]:15008 of the pod's netns other than this ztunnel's own and those that were there
  // before it (a successor opens its 15008 last, after 15001 and 15006, so one listening there
  // takes the pod's new connections on every port). A pod whose listeners cannot be listed
  // counts as waiting.
  size_t podsAwaitingSuccessor();

  const std::map<std::string, std::shared_ptr<Pod>>& pods() const { return pods_; }
  const Pod* find(const std::string& uid) const;

 private:
  Result<std::unique_ptr<boost::asio::ip::tcp::acceptor>> listen(int netns,
                                                                 const Endpoint& endpoint,
                                                                 bool v6_only);
  Status openListeners(Pod& pod);
  void recordHboneListeners(Pod& pod);
  static Endpoint hboneEndpoint();
  void enableMigration(const Pod& pod);
  void serveHbone(const std::shared_ptr<Pod>& pod);
  boost::asio::awaitable<hbone::ConnectOutcome> admitTunnel(std::weak_ptr<Pod> pod,
                                                            const hbone::ConnectRequest& request);
  // 15001 / 15006: accepts until the listener is closed, within the connection caps.
  void acceptOutbound(std::shared_ptr<Pod> pod, boost::asio::ip::tcp::acceptor& acceptor);
  void acceptPlaintext(std::shared_ptr<Pod> pod);
  std::optional<ConnectionLimits::Lease> admit(const Pod& pod);

  boost::asio::io_context& io_;
  Options options_;
  PodSocketFactory& sockets_;
  InboundSteering& steering_;
  identity::IdentityStore& identities_;
  OutboundProxy& outbound_;
  InboundProxy& inbound_;
  std::map<std::string, std::shared_ptr<Pod>> pods_;  // by uid
  bool accepting_ = true;
  // The store's certificate count when a pod's identity wait last ran out, until a certificate
  // has come since (hand-off thread only: addPod).
  std::optional<uint64_t> issued_when_wait_ran_out_;
  std::function<void()> outbound_exhausted_, inbound_exhausted_, hbone_exhausted_;
  prometheus::Counter* migration_failures_ = nullptr;
};

}  // namespace ambit::ztunnel
