#pragma once
// Reply routing for source-preserving inbound connections, inside one pod's netns (see
// AMBIT_INBOUND_MARK in ambit/abi.h): the ztunnel connects to the app from the client's IP, and
// these rules bring the app's replies to that IP back to the ztunnel instead of the network.
//   ip rule  add fwmark AMBIT_INBOUND_MARK lookup AMBIT_INBOUND_ROUTE_TABLE   (IPv4, IPv6)
//   ip route add local default dev lo table AMBIT_INBOUND_ROUTE_TABLE       (IPv4, IPv6)
//   sysctl net.ipv4.tcp_fwmark_accept=1 (the app's accepted socket takes the SYN's mark)
// and, for the ztunnel's listeners in the pod rather than for the reply routes:
//   sysctl net.ipv4.tcp_migrate_req=1 (connections queued on a listener that a ztunnel closes
//   when it is upgraded move to its successor's listener of the same SO_REUSEPORT group
//   instead of being reset). The ztunnel cannot set it itself in a container (read-only
//   /proc/sys); the agent writes it through the host's /proc (--proc-root). Kernels before
//   5.14 lack it: a warning, the pod is enrolled all the same.
// Written over rtnetlink from a thread that enters the netns; both calls are idempotent.

#include "common/status.h"

namespace ambit::agent {

Status installInboundRouting(int netns_fd);
Status removeInboundRouting(int netns_fd);

}  // namespace ambit::agent
