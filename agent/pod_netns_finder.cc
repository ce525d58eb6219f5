#include "agent/pod_netns_finder.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/netns.h"

namespace ambit::agent {

namespace fs = std::filesystem;

namespace {

struct PodProcess {
  pid_t pid;
  std::string cgroup_dir;
};

// The pids listed in <dir>/cgroup.procs; nullopt when the cgroup is gone.
Result<std::optional<std::vector<pid_t>>> readProcs(const std::string& dir) {
  std::string path = dir + "/cgroup.procs";
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::vector<pid_t>>();
    return errnoError("read " + path);
  }
  std::vector<pid_t> pids;
  long long pid = 0;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return std::optional<std::vector<pid_t>>(std::move(pids));
}

// The pod cgroup's processes, the pod level first, then its children (containers) breadth
// first, at most max_depth levels down and max_pids pids.
Result<std::optional<std::vector<PodProcess>>> podProcesses(const std::string& pod_dir,
                                                            int max_depth, size_t max_pids) {
  std::vector<PodProcess> out;
  std::vector<std::string> level = {pod_dir};
  for (int depth = 0; depth <= max_depth && !level.empty(); ++depth) {
    std::vector<std::string> next;
    for (const auto& dir : level) {
      auto pids = readProcs(dir);
      if (!pids) return pids.error();
      if (!*pids) {
        if (dir == pod_dir) return std::optional<std::vector<PodProcess>>();  // pod cgroup gone
        continue;
      }
      for (pid_t p : **pids) {
        if (out.size() < max_pids) out.push_back({p, dir});
      }
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::error_code ec2;
        if (entry.is_directory(ec2)) next.push_back(entry.path().string());
      }
    }
    level = std::move(next);
  }
  return std::optional<std::vector<PodProcess>>(std::move(out));
}

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); nullopt if unreadable.
std::optional<std::chrono::nanoseconds> processStart(const std::string& proc_root, pid_t pid) {
  std::ifstream in(fmt::format("{}/{}/stat", proc_root, pid));
  std::string stat;
  if (!in || !std::getline(in, stat)) return std::nullopt;
  auto paren = stat.rfind(')');  // comm may hold spaces and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return std::nullopt;
  }
  unsigned long long ticks = 0;
  try {
    ticks = std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(ticks * 1'000'000'000ULL / hz));
}

bool listed(const std::string& dir, pid_t pid) {
  auto pids = readProcs(dir);
  return pids && *pids && std::find((*pids)->begin(), (*pids)->end(), pid) != (*pids)->end();
}

bool sameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The ns/net of `p`, or an invalid fd when the process is gone or moved. Race-free against pid
// reuse: the /proc/<pid> handle pins that process; it is opened before the membership
// re-check, and ns/net is opened through it (failing if the process has exited since).
UniqueFd openProcessNetns(const std::string& proc_root, const PodProcess& p) {
  std::string dir = fmt::format("{}/{}", proc_root, p.pid);
  UniqueFd proc(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!proc || !listed(p.cgroup_dir, p.pid)) return UniqueFd();
  return UniqueFd(::openat(proc.get(), "ns/net", O_RDONLY | O_CLOEXEC));
}

std::string joinIps(const std::vector<bpf::IpAddr>& ips) {
  std::string out;
  for (const auto& ip : ips) out += (out.empty() ? "" : ",") + ip.toString();
  return out.empty() ? "none" : out;
}

}  // namespace

Result<std::vector<bpf::IpAddr>> netnsAddresses(int netns_fd) {
  return inNetns(netns_fd, []() -> Result<std::vector<bpf::IpAddr>> {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return errnoError("dump addresses (getifaddrs)");
    std::vector<bpf::IpAddr> out;
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr) continue;
      int family = a->ifa_addr->sa_family;
      if (family != AF_INET && family != AF_INET6) continue;
      socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      if (auto sa = bpf::SockAddr::fromSockaddr(a->ifa_addr, len)) out.push_back(sa->ip);
    }
    ::freeifaddrs(list);
    return out;
  });
}

Result<std::optional<FoundNetns>> ProcNetnsFinder::find(const std::string& pod_cgroup_dir,
                                                        const std::vector<bpf::IpAddr>& pod_ips) {
  if (pod_ips.empty()) return makeError("cgroup {}: the pod has no IP to check", pod_cgroup_dir);
  auto procs = podProcesses(pod_cgroup_dir, options_.max_depth, options_.max_pids);
  if (!procs) return procs.error();
  if (!*procs || (*procs)->empty()) return std::optional<FoundNetns>();
  if (std::all_of((*procs)->begin(), (*procs)->end(), [](const auto& p) { return p.pid == 0; })) {
    return makeError(
        "cgroup {}: its processes are outside this PID namespace (run the agent with hostPID)",
        pod_cgroup_dir);
  }
  struct stat host {};
  if (::stat(options_.host_netns.c_str(), &host) != 0) {
    return errnoError("stat the node's netns " + options_.host_netns);
  }
  std::optional<std::chrono::nanoseconds> first;
  for (const auto& p : **procs) {
    auto start = processStart(options_.proc_root, p.pid);
    if (start && (!first || *start < *first)) first = start;
  }
  for (const auto& p : **procs) {
    if (p.pid == 0) continue;
    UniqueFd netns = openProcessNetns(options_.proc_root, p);
    if (!netns) continue;  // exited or moved since the listing: try the next one
    struct stat st {};
    if (::fstat(netns.get(), &st) != 0)
      return errnoError("fstat netns of pid " + std::to_string(p.pid));
    if (sameFile(st, host)) {
      return makeError(
          "pid {} in {} runs in the node's network namespace (a hostNetwork pod): never enrolled",
          p.pid, p.cgroup_dir);
    }
    auto have = netnsAddresses(netns.get());
    if (!have) return have.error().context(fmt::format("netns of pid {}", p.pid));
    std::vector<bpf::IpAddr> missing;
    for (const auto& ip : pod_ips) {
      if (std::find(have->begin(), have->end(), ip) == have->end()) missing.push_back(ip);
    }
    if (!missing.empty()) {
      return makeError(
          "pid {} in {}: its network namespace does not hold pod IP {} (it has {}): refusing it "
          "(a stale pid or a pod whose IP changed)",
          p.pid, p.cgroup_dir, joinIps(missing), joinIps(*have));
    }
    auto cookie = netnsCookie(netns.get());
    if (!cookie) return cookie.error().context(fmt::format("netns of pid {}", p.pid));
    return std::optional<FoundNetns>(
        FoundNetns{std::move(netns), *cookie, p.pid, first.value_or(std::chrono::nanoseconds(0))});
  }
  return std::optional<FoundNetns>();  // every process exited meanwhile
}

}  // namespace ambit::agent
