#pragma once
// Network namespace helpers. NetnsGuard enters a namespace for the current thread and always
// returns to the original one when it goes out of scope (even on early return). Per-namespace
// sysctls (net.*) are written through writeSysctl*, never with a path of our own: /proc/sys/net
// resolves against the namespace of the thread that opens it.

#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit {

// Opens a netns handle (e.g. /run/netns/<name> or /proc/<pid>/ns/net), O_RDONLY|O_CLOEXEC.
Result<UniqueFd> openNetns(const std::string& path);

// The netns cookie of a namespace handle, as bpf_get_netns_cookie() reports it.
Result<uint64_t> netnsCookie(int netns_fd);

class NetnsGuard {
 public:
  // Enters `target`; check ok() / error() before relying on being inside.
  explicit NetnsGuard(int target_netns_fd);
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  ~NetnsGuard();

  bool ok() const { return status_.isOk(); }
  const Status& status() const { return status_; }

 private:
  UniqueFd original_;
  Status status_;
};

// Runs fn() inside the namespace; returns its result or the error entering/leaving.
template <typename Fn>
auto inNetns(int netns_fd, Fn&& fn) -> decltype(fn()) {
  NetnsGuard guard(netns_fd);
  if (!guard.ok()) return guard.status().error();
  return fn();
}

// Writes `value` to the sysctl `key`, given as its path below /proc/sys
// ("net/ipv4/tcp_migrate_req"), in the calling thread's network namespace. Where /proc/sys is
// read-only (an unprivileged container: the runtime mounts it so) and a second procfs mount was
// named with setSysctlProcFallback, the key is written through that mount's sys/ instead.
Status writeSysctl(std::string_view key, std::string_view value);
// A writable procfs mount (e.g. the host's /proc at /host/proc in the node pod) through which
// writeSysctl writes when /proc/sys is read-only. Set once at start-up, before other threads.
void setSysctlProcFallback(std::string proc_root);
// The same inside the network namespace `netns_fd` (this thread enters it and returns).
Status writeSysctlInNetns(int netns_fd, std::string_view key, std::string_view value);
// The value of the sysctl `key` (as for writeSysctl) in the calling thread's network namespace,
// without the trailing newline. Reading works where /proc/sys is mounted read-only.
Result<std::string> readSysctl(std::string_view key);

}  // namespace ambit
