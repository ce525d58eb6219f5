#pragma once
// HTTP GET to a daemon's admin or metrics endpoint (ztunnel 15000/15020, agent 15030, waypoint
// 15020, ambit-control 15014), optionally inside a network namespace: in the lab every daemon
// listens in its node's (or pod's) netns, so the socket is created there. Blocking, bounded by
// a deadline; one call at a time per thread. common/kube's client speaks only TLS to the API
// server, so this small plain-HTTP client exists for the admin ports.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace ambit::cli {

struct AdminEndpoint {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal
  uint16_t port = 0;
  std::string netns;  // a netns name under /run/netns, or a path; empty: this process's

  // "127.0.0.1:15000" or "ambit-node1/127.0.0.1:15000"
  std::string describe() const;
};

// Parses "host:port" or "[v6]:port"; an error says what is wrong and what is expected.
Result<AdminEndpoint> parseAdminAddress(const std::string& text);

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

// GET `path`; any HTTP status is a reply, no answer at all is an error naming the endpoint.
Result<HttpReply> adminGet(const AdminEndpoint& endpoint, const std::string& path,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

// GET `path` expecting 200; the body, or an error naming the endpoint and the status.
Result<std::string> adminGetOk(const AdminEndpoint& endpoint, const std::string& path,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace ambit::cli
