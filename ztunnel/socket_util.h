#pragma once
// Sockets the ztunnel opens on behalf of a pod: created inside the pod's network namespace and
// marked AMBIT_SOCKET_MARK so the capture programs never loop them back.
//
// PodSocketFactory is the seam the proxies and the pod registry get their sockets through;
// NetnsSocketFactory is the production one (stateless, any thread). Tests use plain loopback
// sockets instead.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::ztunnel {

// An unconnected, marked TCP socket of `family` created in `netns_fd` (-1: current netns).
Result<UniqueFd> podSocket(int netns_fd, int family);

// A listening socket in `netns_fd` bound to `endpoint`, with SO_REUSEPORT (a new ztunnel can
// take over before the old one stops), SO_REUSEADDR and the mark. `v6_only` false makes an
// IPv6 wildcard listener dual-stack.
Result<UniqueFd> podListener(int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint,
                             bool v6_only);

class PodSocketFactory {
 public:
  virtual ~PodSocketFactory() = default;
  // An unconnected TCP socket of `family` (AF_INET/AF_INET6) in the pod's netns.
  virtual Result<UniqueFd> socket(int netns_fd, int family) = 0;
  // A bound, listening TCP socket in the pod's netns (see podListener()).
  virtual Result<UniqueFd> listener(int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint,
                                    bool v6_only) = 0;
  // Lets connections queued on a listener closed during an upgrade migrate to the new
  // ztunnel's listener of the same SO_REUSEPORT group instead of being reset (the sysctl
  // net.ipv4.tcp_migrate_req in the pod's netns). Once per pod, before its listeners open.
  virtual Status enableListenerMigration(int netns_fd) = 0;
  // Inodes of the TCP listeners bound to `endpoint` in the pod's netns (sock_diag), this
  // ztunnel's own included: a ztunnel that is being replaced tells from them whether its
  // successor listens in the pod yet (see PodRegistry::podsAwaitingSuccessor).
  virtual Result<std::vector<uint64_t>> listeners(
      int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint) = 0;
};

class NetnsSocketFactory final : public PodSocketFactory {
 public:
  Result<UniqueFd> socket(int netns_fd, int family) override;
  Result<UniqueFd> listener(int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint,
                            bool v6_only) override;
  // Writes tcp_migrate_req=1 in the pod's netns; where that netns's /proc/sys is read-only (the
  // ztunnel's container) it is enough that the agent has set it (agent/inbound_routing.h).
  Status enableListenerMigration(int netns_fd) override;
  Result<std::vector<uint64_t>> listeners(int netns_fd,
                                          const boost::asio::ip::tcp::endpoint& endpoint) override;
};

}  // namespace ambit::ztunnel
