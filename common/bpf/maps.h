#pragma once
// Typed access to the capture maps (ambit/abi.h), by fd from a loaded skeleton or opened from
// their pins (<pin dir>/maps/<name>). Each wrapper owns its map fd; move-only; a single map
// operation is atomic in the kernel, so wrappers may be used from any thread.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ambit/abi.h"
#include "common/bpf/addr.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::bpf {

// Outbound capture settings of one enrolled pod netns.
struct NetnsConfig {
  std::vector<Cidr> bypass_cidrs;      // at most AMBIT_MAX_BYPASS_CIDRS
  std::vector<uint16_t> bypass_ports;  // at most AMBIT_MAX_BYPASS_PORTS

  Result<ambit_netns_config> toAbi() const;
};

// Inbound steering settings of one pod.
struct PodConfig {
  std::vector<uint16_t> bypass_ports;  // at most AMBIT_MAX_BYPASS_PORTS
  std::vector<IpAddr> probe_sources;   // at most AMBIT_MAX_PROBE_SOURCES

  Result<ambit_pod_config> toAbi(uint64_t pod_tag) const;
};

// An owned map fd plus what it is, for messages ("ambit_netns (/sys/fs/bpf/ambit/n/maps/...)").
class MapHandle {
 public:
  MapHandle() = default;
  MapHandle(UniqueFd fd, std::string what) : fd_(std::move(fd)), what_(std::move(what)) {}
  // Opens <pin_dir>/maps/<name>; read_only maps reject updates (BPF_F_RDONLY).
  static Result<MapHandle> openPinned(const std::string& pin_dir, const char* name,
                                      bool read_only = false);
  // Duplicates a map fd owned by a skeleton.
  static Result<MapHandle> fromFd(int fd, const char* name);

  int fd() const { return fd_.get(); }
  const std::string& what() const { return what_; }

  Status update(const void* key, const void* value, uint64_t flags = 0) const;
  Status remove(const void* key) const;  // missing key is not an error
  // false when the key is absent.
  Result<bool> lookup(const void* key, void* value) const;
  // Every key, via BPF_MAP_GET_NEXT_KEY.
  template <typename K>
  Result<std::vector<K>> keys() const;

 private:
  Result<bool> nextKey(const void* key, void* next) const;

  UniqueFd fd_;
  std::string what_;
};

template <typename K>
Result<std::vector<K>> MapHandle::keys() const {
  std::vector<K> out;
  K cur{};
  K next{};
  const void* prev = nullptr;
  for (;;) {
    auto more = nextKey(prev, &next);
    AMBIT_TRY(more);
    if (!*more) return out;
    out.push_back(next);
    cur = next;
    prev = &cur;
  }
}

class EnrolledNetnsMap {
 public:
  explicit EnrolledNetnsMap(MapHandle map) : map_(std::move(map)) {}
  Status put(uint64_t netns_cookie, const NetnsConfig& config) const;
  Status remove(uint64_t netns_cookie) const { return map_.remove(&netns_cookie); }
  Result<std::optional<ambit_netns_config>> get(uint64_t netns_cookie) const;
  Result<std::vector<uint64_t>> cookies() const { return map_.keys<uint64_t>(); }

 private:
  MapHandle map_;
};

class OrigDstMap {
 public:
  explicit OrigDstMap(MapHandle map) : map_(std::move(map)) {}
  // The original destination of the captured connection from `client` in that netns.
  Result<std::optional<SockAddr>> lookup(uint64_t netns_cookie, const SockAddr& client) const;

 private:
  MapHandle map_;
};

class PodConfigMap {
 public:
  explicit PodConfigMap(MapHandle map) : map_(std::move(map)) {}
  Status put(const IpAddr& pod_ip, const ambit_pod_config& config) const;
  Status remove(const IpAddr& pod_ip) const;
  Result<std::vector<std::pair<IpAddr, ambit_pod_config>>> entries() const;

 private:
  MapHandle map_;
};

// SOCKHASH pod IP -> the ztunnel's 15006 listener in that pod's netns.
class InboundListenerMap {
 public:
  explicit InboundListenerMap(MapHandle map) : map_(std::move(map)) {}
  Status put(const IpAddr& pod_ip, int listener_fd) const;
  Status remove(const IpAddr& pod_ip) const;

 private:
  MapHandle map_;
};

// LRU hash of the connections the ztunnel is opening to an app from the client's IP
// (sk_lookup passes them instead of steering them to 15006).
class InboundPendingMap {
 public:
  explicit InboundPendingMap(MapHandle map) : map_(std::move(map)) {}
  Status put(const SockAddr& client, const SockAddr& pod) const;
  Status remove(const SockAddr& client, const SockAddr& pod) const;

 private:
  MapHandle map_;
};

// Hash cgroup id -> refusal count: mesh pods that must not connect before their netns is
// enrolled (fail closed; see AMBIT_MAP_POD_CGROUPS in abi.h).
class PodCgroupMap {
 public:
  explicit PodCgroupMap(MapHandle map) : map_(std::move(map)) {}
  // Marks the cgroup; an existing mark keeps its count.
  Status put(uint64_t cgroup_id) const;
  Status remove(uint64_t cgroup_id) const { return map_.remove(&cgroup_id); }
  // Marked cgroup ids with the connects refused so far.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> entries() const;

 private:
  MapHandle map_;
};

using StatCounters = std::array<uint64_t, AMBIT_STAT_MAX>;

class StatsMap {
 public:
  explicit StatsMap(MapHandle map) : map_(std::move(map)) {}
  // Each counter summed over CPUs.
  Result<StatCounters> read() const;

 private:
  MapHandle map_;
};

}  // namespace ambit::bpf
