#pragma once
// The small HTTP/1.1 server every ambit binary uses for its operational endpoints:
// readiness (/healthz/ready), Prometheus metrics (/metrics) and JSON dumps (/config_dump),
// plus any component-specific path. Built on Boost.Beast.
//
// Thread model: runs on the io_context it is given (the control/admin context, never a data
// worker), so a slow stats query never competes with proxied traffic. Handlers are called on
// that context's thread. Lifetime: the server must outlive nothing it hands out; stop() closes
// the listener and all open admin connections.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace ambit::admin {

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct Request {
  std::string method;  // GET, POST ...
  std::string path;    // without the query string
  std::string query;   // after '?', undecoded
  std::string body;
};

using Handler = std::function<Response(const Request&)>;

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr const char* kJsonContentType = "application/json";

class AdminServer {
 public:
  explicit AdminServer(boost::asio::io_context& io);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Registers a handler for an exact path (any method; the handler checks it if it cares).
  void route(const std::string& path, Handler handler);

  // Binds and starts accepting. `port` 0 picks a free port (see port()). Optionally inside a
  // network namespace (fd >= 0) so one process can serve in a pod's or node's netns.
  Status listen(const std::string& address, uint16_t port, int netns_fd = -1);
  // listen() for a process that is replaced by starting its successor beside it, as a
  // DaemonSet's surge rollout does on the host network: the port is bound with SO_REUSEPORT, so
  // the successor can bind it too, and this server then yields: every `poll` it looks for
  // listeners on its address (sock_diag), and one that was not there when it bound is a
  // successor: it closes its listener, so that the successor alone answers (the kubelet's
  // probes of the new pod, the scrapes). Listeners already there when it bound are its
  // predecessors, never yielded to (they yield to it).
  Status listenYieldingToSuccessor(const std::string& address, uint16_t port,
                                   std::chrono::milliseconds poll = std::chrono::milliseconds(250));
  // Whether listenYieldingToSuccessor's server has closed its listener for a successor.
  bool yielded() const;
  uint16_t port() const;
  void stop();

  struct Impl;  // opaque; public only so connection objects in the .cc can name it

 private:
  std::shared_ptr<Impl> impl_;
};

// Standard handlers.
Handler readinessHandler(std::function<bool()> ready);
Handler jsonHandler(std::function<std::string()> produce_json);

}  // namespace ambit::admin
