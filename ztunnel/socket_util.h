#pragma once
// Sockets the ztunnel opens on behalf of a pod: created inside the pod's network namespace and
// marked AMBIT_SOCKET_MARK so the capture programs never loop them back.

#include <boost/asio/ip/tcp.hpp>

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

}  // namespace ambit::ztunnel
