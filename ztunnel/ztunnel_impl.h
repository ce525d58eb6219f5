#pragma once
// Ztunnel internals shared by its translation units (pods, outbound, inbound, admin).
// Everything in Impl is touched on the data thread only unless marked otherwise.

#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "ambit/v1/handoff.pb.h"
#include "common/admin/admin_server.h"
#include "common/bpf/capture_client.h"
#include "common/config/loop_watch.h"
#include "common/fd_watch.h"
#include "common/hbone/client_pool.h"
#include "common/hbone/server.h"
#include "common/identity/identity_store.h"
#include "common/rbac/rbac.h"
#include "ztunnel/connection_tracker.h"
#include "ztunnel/handoff_client.h"
#include "ztunnel/metrics.h"
#include "ztunnel/state.h"
#include "ztunnel/ztunnel.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

inline constexpr auto kDataThreadTimeout = std::chrono::seconds(10);

// One enrolled pod served by this ztunnel.
struct Pod {
  v1::PodInfo info;
  UniqueFd netns;
  std::string spiffe_id;
  std::vector<Address> ips;
  std::vector<std::unique_ptr<tcp::acceptor>> outbound;  // 127.0.0.1:15001, [::1]:15001
  std::unique_ptr<tcp::acceptor> inbound_plaintext;      // [::]:15006, steered by sk_lookup
  std::unique_ptr<hbone::HboneServer> hbone;             // [::]:15008
  // The bound, listening 15008 socket until the pod's certificate is installed: connections
  // wait in the kernel's backlog instead of failing a handshake the pod cannot complete yet.
  std::unique_ptr<tcp::acceptor> hbone_pending;
  std::shared_ptr<identity::IdentityTls> tls;
  bool seen_in_snapshot = true;
  // Live steered plaintext connections (client IP, client port, pod port): a source-preserving
  // connect to the app must not reuse one of these 4-tuples (the pod's netns already has it).
  std::multiset<std::tuple<Address, uint16_t, uint16_t>> steered;
};

struct InboundTunnel {
  ConnectionMetrics metrics;
  uint64_t tracker_id = 0;
  std::chrono::steady_clock::time_point start;
};

struct Ztunnel::Impl : std::enable_shared_from_this<Ztunnel::Impl>, PodSink {
  explicit Impl(ZtunnelOptions o);

  Status start();
  void run();
  void beginDrain();

  // PodSink (hand-off thread): work is posted to the data thread and awaited.
  Status addPod(const v1::PodInfo& pod, UniqueFd netns) override;
  Status deletePod(const std::string& uid) override;
  void snapshotStart() override;
  void snapshotDone() override;

  // pods.cc (data thread)
  Status openPod(std::shared_ptr<Pod> pod);
  // Starts serving HBONE for a pod opened by openPod (once its certificate is there).
  Status startHbone(const std::string& uid);
  void closePod(const std::string& uid);
  void acceptOutbound(std::shared_ptr<Pod> pod, tcp::acceptor& acceptor);
  void acceptPlaintext(std::shared_ptr<Pod> pod);

  // outbound.cc
  asio::awaitable<void> serveOutbound(std::shared_ptr<Pod> pod, tcp::socket app);
  // inbound.cc
  asio::awaitable<hbone::ConnectOutcome> onHboneConnect(std::shared_ptr<Pod> pod,
                                                        const hbone::ConnectRequest& req);
  void onHboneClosed(std::shared_ptr<Pod> pod, const hbone::ConnectRequest& req,
                     const hbone::SpliceResult& result);
  asio::awaitable<void> servePlaintext(std::shared_ptr<Pod> pod, tcp::socket client);
  // To the app inside the pod's netns: from `client` (the original source, IP_TRANSPARENT)
  // when the agent set up reply routing, else (or if that fails) from loopback. The source
  // port never repeats a live steered connection's 4-tuple (Pod::steered).
  asio::awaitable<Result<tcp::socket>> connectToApp(const Pod& pod, const Endpoint& target,
                                                    const Address& client);
  // `dialled`: the SYN went out (a failure then is the app's answer, not a setup problem).
  asio::awaitable<Result<tcp::socket>> connectFromClient(const Pod& pod, const Endpoint& target,
                                                         const Address& client, bool& dialled);
  rbac::Decision authorize(const Pod& pod, const rbac::Attributes& attrs) const;
  // The policy target of a pod: its namespace and (from the config) its labels.
  rbac::Target targetFor(const Pod& pod) const;

  // config
  void onSnapshot(std::shared_ptr<const v1::MeshSnapshot> snapshot);
  void recheckConnections();

  // admin.cc (admin thread; reads via posted tasks)
  Status registerAdmin();
  std::string configDump();
  // Runs fn on the data thread and waits for its result (hand-off and admin threads only).
  template <typename Fn>
  auto onDataThread(Fn&& fn) -> decltype(fn()) {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<Fn>(fn));
    auto fut = task->get_future();
    asio::post(io, [task] { (*task)(); });
    if (fut.wait_for(kDataThreadTimeout) != std::future_status::ready) {
      return makeError("data thread did not answer within {}s", kDataThreadTimeout.count());
    }
    return fut.get();
  }

  ZtunnelOptions options;
  asio::io_context io;        // data thread
  asio::io_context admin_io;  // admin thread
  std::thread admin_thread;
  std::unique_ptr<bpf::CaptureClient> capture;
  std::unique_ptr<identity::IdentityStore> identities;
  std::unique_ptr<hbone::HboneClientPool> pool;
  std::unique_ptr<config::LoopConfigWatch> config_watch;
  std::shared_ptr<const MeshState> state;
  std::shared_ptr<const rbac::CompiledPolicySet> policies;
  std::map<std::string, std::shared_ptr<Pod>> pods;                // by uid
  std::unordered_map<const void*, InboundTunnel> inbound_tunnels;  // by &ConnectRequest
  ConnectionTracker tracker;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<TcpMetrics> metrics;
  std::unique_ptr<admin::AdminServer> admin_server, metrics_server, ready_server;
  std::unique_ptr<HandoffClient> handoff;
  uint64_t pick = 0;
  size_t outbound_active = 0;
  bool draining = false;
};

}  // namespace ambit::ztunnel
