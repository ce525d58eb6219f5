#include "ztunnel/connection_manager.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "common/async/spawn.h"
#include "common/log.h"
#include "ztunnel/inbound_policy.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;

namespace {
constexpr auto kDrainPoll = std::chrono::milliseconds(50);
}  // namespace

ConnectionManager::ConnectionManager(asio::io_context& io, ConnectionTracker& tracker,
                                     PodRegistry& pods, const OutboundProxy& outbound)
    : io_(io), tracker_(tracker), pods_(pods), outbound_(outbound) {}

size_t ConnectionManager::recheck(const ZtunnelConfig& config) {
  size_t closed = tracker_.closeIf([&](const TrackedConnection& c) -> std::string {
    const Pod* pod = pods_.find(c.pod_uid);
    if (!pod) return "destination pod left the mesh";
    rbac::Attributes attrs;
    attrs.source_ip = c.source_ip;
    attrs.destination_ip = c.destination_ip;
    attrs.destination_port = c.destination_port;
    attrs.source_principal = c.source_principal;
    if (c.source_principal.empty() && !plaintextAllowed(*pod, c.destination_port, &config)) {
      return "PeerAuthentication STRICT";
    }
    rbac::Decision d = authorizeInbound(*pod, attrs, &config);
    return d.allowed ? std::string() : std::string(d.reasonText());
  });
  if (closed) logInfo("policy update closed {} connections it now denies", closed);
  return closed;
}

void ConnectionManager::beginDrain(std::chrono::steady_clock::time_point deadline,
                                   std::function<void()> done) {
  if (draining_) return;
  draining_ = true;
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  logInfo("draining: no new connections; open tunnels have {}ms", left.count());
  pods_.stopAccepting();
  // Every pod's HBONE server drains at once: each stops accepting and sends GOAWAY now, not
  // after the pods before it have finished.
  auto draining_servers = std::make_shared<size_t>(0);
  for (const auto& [uid, pod] : pods_.pods()) {
    if (!pod->hbone) continue;
    ++*draining_servers;
    spawn(
        io_,
        [pod = pod, deadline]() -> asio::awaitable<void> { co_await pod->hbone->drain(deadline); },
        "HBONE server drain", [draining_servers](bool) { --*draining_servers; });
  }
  spawn(
      io_,
      [this, deadline, draining_servers]() -> asio::awaitable<void> {
        asio::steady_timer t(io_);
        while ((*draining_servers > 0 || outbound_.active() > 0) &&
               std::chrono::steady_clock::now() < deadline) {
          t.expires_after(kDrainPoll);
          co_await t.async_wait(asio::use_awaitable);
        }
        // Past the deadline the servers close what is left themselves; wait for that.
        while (*draining_servers > 0) {
          t.expires_after(kDrainPoll);
          co_await t.async_wait(asio::use_awaitable);
        }
      },
      "ztunnel drain",
      // Also when the drain failed (logged): the daemon stops instead of waiting for its kill.
      [done = std::move(done)](bool) { done(); });
}

}  // namespace ambit::ztunnel
