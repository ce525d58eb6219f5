#pragma once
// Caps on the connections one ztunnel proxies, per pod and per node, so that one pod (a
// runaway client, or a flood aimed at one destination) cannot take every file descriptor and
// every byte of memory the node's ztunnel has.
//
// A connection counts against the pod it belongs to on this node: the source pod for captured
// outbound connections (15001), the destination pod for inbound ones (plaintext 15006 and each
// HBONE tunnel on 15008). admit() hands out a Lease that holds one slot until destroyed; past
// a cap it refuses, counts ambit_ztunnel_connections_refused_total{reason="pod_limit"|
// "node_limit"} and logs (at most one line per pod per kLogInterval). The caller then closes
// the connection (outbound, plaintext) or answers the CONNECT with 503 (HBONE).
//
// Defaults (ztunnel flags --max-connections-per-pod, --max-connections-per-node): 20,000 per
// pod (above tests/bench's 10,000 idle connections from one client) and 100,000 per node. Each
// proxied connection holds two sockets, so RLIMIT_NOFILE should allow twice the node cap.
//
// Thread: the data thread only. A lease may outlive the limits object (the counts are shared).

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace ambit::ztunnel {

struct ConnectionCaps {
  uint32_t per_pod = 20000;
  uint32_t per_node = 100000;
};

class ConnectionLimits {
 public:
  static constexpr std::chrono::seconds kLogInterval{10};

  // `registry` may be null (no metric).
  ConnectionLimits(ConnectionCaps caps, prometheus::Registry* registry);

  // One admitted connection's slot; moves, frees the slot when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }

   private:
    friend class ConnectionLimits;
    struct Counts;
    Lease(std::shared_ptr<Counts> counts, std::string pod)
        : counts_(std::move(counts)), pod_(std::move(pod)) {}
    void release();
    std::shared_ptr<Counts> counts_;
    std::string pod_;
  };

  // A slot for one more connection of `pod_uid`, or nothing when a cap is reached.
  std::optional<Lease> admit(const std::string& pod_uid);

  size_t open(const std::string& pod_uid) const;
  size_t openOnNode() const;
  uint64_t refused() const { return refused_; }

 private:
  void refuse(const std::string& pod_uid, const char* reason);

  ConnectionCaps caps_;
  prometheus::Counter* refused_pod_ = nullptr;
  prometheus::Counter* refused_node_ = nullptr;
  std::shared_ptr<Lease::Counts> counts_;
  uint64_t refused_ = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> last_log_;  // by pod uid
};

}  // namespace ambit::ztunnel
