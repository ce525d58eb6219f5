#pragma once
// The lab's path from node network namespaces to the Kubernetes API server of a Kubernetes-mode
// lab. The API server (tests/k8s/cluster) listens on 127.0.0.1 of the host's netns, which no
// lab namespace can reach; this relay listens inside the underlay netns on the address of the
// `kubernetes` Service (10.96.0.1:443, a name the API server's certificate already carries) and
// connects every accepted connection to the API server from the netns the relay runs in.
// Bytes pass through untouched: TLS stays end to end between client and API server.
//
// Runs as `ambitctl lab api-relay` (a lab process, stopped by `lab down`). Blocks until killed.

#include <string>

#include "common/status.h"

namespace ambit::lab {

struct ApiRelayOptions {
  std::string listen_netns;  // e.g. /run/netns/<lab>-underlay
  std::string listen;        // "10.96.0.1:443"
  std::string upstream;      // "127.0.0.1:<port>", reached from the relay's own netns
};

// "host:port" (IPv4 or [IPv6]) into its parts; fails naming `what` on bad input.
Result<std::pair<std::string, uint16_t>> splitHostPort(const std::string& text,
                                                       const std::string& what);

// Runs the relay forever; returns only when it cannot start (bad address, netns, bind).
Status runApiRelay(const ApiRelayOptions& options);

}  // namespace ambit::lab
