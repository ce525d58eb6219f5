#pragma once
// Late policy and graceful shutdown for the connections the ztunnel carries.
//
// recheck(): after a configuration change, every open inbound connection (ConnectionTracker)
// is evaluated again against the new policies (inbound_policy.h); those it now denies, and
// those of pods that left, are shut down.
//
// beginDrain(): stops accepting (every pod's 15001/15006 listener closes, no new pods), every
// pod's HBONE server stops accepting and sends GOAWAY at once, and open tunnels and outbound
// connections may run on until they end or the deadline passes (then the HBONE servers close
// what is left); `done` runs once after that. Outbound connections still open at the deadline
// are left to the caller (the ztunnel then stops its event loop).
//
// Ownership: the caller owns the manager and its dependencies, which must outlive it and any
// drain in progress. Thread: the data thread (the io_context given) only.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>

#include "ztunnel/connection_tracker.h"
#include "ztunnel/outbound_proxy.h"
#include "ztunnel/pod_registry.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel {

class ConnectionManager {
 public:
  ConnectionManager(boost::asio::io_context& io, ConnectionTracker& tracker, PodRegistry& pods,
                    const OutboundProxy& outbound);

  // Returns how many connections were closed.
  size_t recheck(const ZtunnelConfig& config);

  // The first call starts the drain; later calls do nothing.
  void beginDrain(std::chrono::steady_clock::time_point deadline, std::function<void()> done);
  // Any thread (readiness).
  bool draining() const { return draining_; }

 private:
  boost::asio::io_context& io_;
  ConnectionTracker& tracker_;
  PodRegistry& pods_;
  const OutboundProxy& outbound_;
  std::atomic<bool> draining_{false};
};

}  // namespace ambit::ztunnel
