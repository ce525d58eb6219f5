#include "common/bpf/maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>

#include <cstring>

#include "common/bpf/libbpf_opts.h"

namespace ambit::bpf {

Result<ambit_netns_config> NetnsConfig::toAbi() const {
  ambit_netns_config c;
  std::memset(&c, 0, sizeof(c));
  if (bypass_cidrs.size() > AMBIT_MAX_BYPASS_CIDRS) {
    return makeError("{} bypass CIDRs given, at most {} supported", bypass_cidrs.size(),
                     AMBIT_MAX_BYPASS_CIDRS);
  }
  if (bypass_ports.size() > AMBIT_MAX_BYPASS_PORTS) {
    return makeError("{} bypass ports given, at most {} supported", bypass_ports.size(),
                     AMBIT_MAX_BYPASS_PORTS);
  }
  c.n_bypass_cidrs = static_cast<__u32>(bypass_cidrs.size());
  for (size_t i = 0; i < bypass_cidrs.size(); ++i) c.bypass_cidrs[i] = bypass_cidrs[i].toAbi();
  c.n_bypass_ports = static_cast<__u32>(bypass_ports.size());
  for (size_t i = 0; i < bypass_ports.size(); ++i) c.bypass_ports[i] = bypass_ports[i];
  return c;
}

Result<ambit_pod_config> PodConfig::toAbi(uint64_t pod_tag) const {
  ambit_pod_config c;
  std::memset(&c, 0, sizeof(c));
  if (bypass_ports.size() > AMBIT_MAX_BYPASS_PORTS) {
    return makeError("{} inbound bypass ports given, at most {} supported", bypass_ports.size(),
                     AMBIT_MAX_BYPASS_PORTS);
  }
  if (probe_sources.size() > AMBIT_MAX_PROBE_SOURCES) {
    return makeError("{} probe sources given, at most {} supported", probe_sources.size(),
                     AMBIT_MAX_PROBE_SOURCES);
  }
  c.pod_tag = pod_tag;
  c.n_bypass_ports = static_cast<__u32>(bypass_ports.size());
  for (size_t i = 0; i < bypass_ports.size(); ++i) c.bypass_ports[i] = bypass_ports[i];
  c.n_probe_sources = static_cast<__u32>(probe_sources.size());
  for (size_t i = 0; i < probe_sources.size(); ++i) c.probe_sources[i] = probe_sources[i].toAbi();
  return c;
}

Result<MapHandle> MapHandle::openPinned(const std::string& pin_dir, const char* name,
                                        bool read_only) {
  std::string path = fmt::format("{}/{}/{}", pin_dir, AMBIT_PIN_MAPS_DIR, name);
  AMBIT_LIBBPF_OPTS(bpf_obj_get_opts, opts,
                    .file_flags = read_only ? static_cast<__u32>(BPF_F_RDONLY) : 0u);
  int fd = bpf_obj_get_opts(path.c_str(), &opts);
  if (fd < 0) return errnoError(fmt::format("open pinned map {}", path));
  return MapHandle(UniqueFd(fd), fmt::format("{} ({})", name, path));
}

Result<MapHandle> MapHandle::fromFd(int fd, const char* name) {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return errnoError(fmt::format("dup fd of map {}", name));
  return MapHandle(UniqueFd(dup), name);
}

Status MapHandle::update(const void* key, const void* value, uint64_t flags) const {
  if (bpf_map_update_elem(fd(), key, value, flags) != 0) {
    return errnoError(fmt::format("update map {}", what_));
  }
  return Status::ok();
}

Status MapHandle::remove(const void* key) const {
  if (bpf_map_delete_elem(fd(), key) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("delete from map {}", what_));
  }
  return Status::ok();
}

Result<bool> MapHandle::lookup(const void* key, void* value) const {
  if (bpf_map_lookup_elem(fd(), key, value) == 0) return true;
  if (errno == ENOENT) return false;
  return errnoError(fmt::format("lookup in map {}", what_));
}

Result<bool> MapHandle::nextKey(const void* key, void* next) const {
  if (bpf_map_get_next_key(fd(), key, next) == 0) return true;
  if (errno == ENOENT) return false;
  return errnoError(fmt::format("iterate map {}", what_));
}

Status EnrolledNetnsMap::put(uint64_t netns_cookie, const NetnsConfig& config) const {
  auto abi = config.toAbi();
  if (!abi) return abi.error().context(fmt::format("netns cookie {}", netns_cookie));
  return map_.update(&netns_cookie, &*abi);
}

Result<std::optional<ambit_netns_config>> EnrolledNetnsMap::get(uint64_t netns_cookie) const {
  ambit_netns_config c;
  auto found = map_.lookup(&netns_cookie, &c);
  AMBIT_TRY(found);
  if (!*found) return std::optional<ambit_netns_config>();
  return std::optional<ambit_netns_config>(c);
}

Result<std::optional<SockAddr>> OrigDstMap::lookup(uint64_t netns_cookie,
                                                   const SockAddr& client) const {
  ambit_conn_key key;
  std::memset(&key, 0, sizeof(key));
  key.netns_cookie = netns_cookie;
  key.client_ip = client.ip.toAbi();
  key.client_port = client.port;
  ambit_orig_dst dst;
  auto found = map_.lookup(&key, &dst);
  AMBIT_TRY(found);
  if (!*found) return std::optional<SockAddr>();
  return std::optional<SockAddr>(SockAddr::fromAbi(dst));
}

Status PodConfigMap::put(const IpAddr& pod_ip, const ambit_pod_config& config) const {
  ambit_ip key = pod_ip.toAbi();
  return map_.update(&key, &config);
}

Status PodConfigMap::remove(const IpAddr& pod_ip) const {
  ambit_ip key = pod_ip.toAbi();
  return map_.remove(&key);
}

Result<std::vector<std::pair<IpAddr, ambit_pod_config>>> PodConfigMap::entries() const {
  auto keys = map_.keys<ambit_ip>();
  AMBIT_TRY(keys);
  std::vector<std::pair<IpAddr, ambit_pod_config>> out;
  for (const auto& k : *keys) {
    ambit_pod_config c;
    auto found = map_.lookup(&k, &c);
    AMBIT_TRY(found);
    if (*found) out.emplace_back(IpAddr::fromAbi(k), c);
  }
  return out;
}

Status InboundListenerMap::put(const IpAddr& pod_ip, int listener_fd) const {
  ambit_ip key = pod_ip.toAbi();
  uint64_t value = static_cast<uint64_t>(listener_fd);
  auto st = map_.update(&key, &value);
  if (!st)
    return st.error().context(fmt::format("register listener for pod IP {}", pod_ip.toString()));
  return st;
}

Status InboundListenerMap::remove(const IpAddr& pod_ip) const {
  ambit_ip key = pod_ip.toAbi();
  return map_.remove(&key);
}

namespace {

ambit_flow_key flowKey(const SockAddr& client, const SockAddr& pod) {
  ambit_flow_key key{};
  key.remote = client.ip.toAbi();
  key.local = pod.ip.toAbi();
  key.remote_port = client.port;
  key.local_port = pod.port;
  return key;
}

}  // namespace

Status InboundPendingMap::put(const SockAddr& client, const SockAddr& pod) const {
  ambit_flow_key key = flowKey(client, pod);
  uint32_t one = 1;
  auto st = map_.update(&key, &one);
  if (!st) {
    return st.error().context(
        fmt::format("list connect {} -> {}", client.toString(), pod.toString()));
  }
  return st;
}

Status InboundPendingMap::remove(const SockAddr& client, const SockAddr& pod) const {
  ambit_flow_key key = flowKey(client, pod);
  return map_.remove(&key);
}

static_assert(sizeof(ambit_pod_cgroup) == 8, "ambit_pod_cgroup is one __u64");

Status PodCgroupMap::put(uint64_t cgroup_id) const {
  ambit_pod_cgroup fresh{};
  auto st = map_.update(&cgroup_id, &fresh, BPF_NOEXIST);
  if (!st && st.error().code == EEXIST) return Status::ok();
  return st;
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> PodCgroupMap::entries() const {
  auto ids = map_.keys<uint64_t>();
  AMBIT_TRY(ids);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (uint64_t id : *ids) {
    ambit_pod_cgroup v{};
    auto found = map_.lookup(&id, &v);
    AMBIT_TRY(found);
    if (*found) out.emplace_back(id, v.refused);
  }
  return out;
}

Result<StatCounters> StatsMap::read() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return errnoError("count possible CPUs", -ncpu);
  StatCounters out{};
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (__u32 i = 0; i < AMBIT_STAT_MAX; ++i) {
    auto found = map_.lookup(&i, per_cpu.data());
    AMBIT_TRY(found);
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace ambit::bpf
