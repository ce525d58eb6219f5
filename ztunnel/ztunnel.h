#pragma once
// ambit-ztunnel: the node's mTLS tunnel. For every pod the agent hands over it opens, inside
// the pod's network namespace, 15001 (captured outbound), 15006 (inbound plaintext, steered by
// sk_lookup) and 15008 (HBONE), and proxies: outbound to HBONE with the source pod's
// certificate (or plain TCP outside the mesh), inbound HBONE and plaintext to the app over
// loopback after L4 policy. Serves metrics (15020), readiness (15021) and admin (15000).
//
// Threads: one data thread runs every listener, connection, the config watcher and the
// certificate manager (so the mesh state needs no locks); the admin servers run on a second
// thread and read through posted tasks; the agent hand-off has its own blocking thread.

#include <chrono>
#include <memory>
#include <string>

#include "common/admin/access_log.h"
#include "common/status.h"
#include "ztunnel/connection_limits.h"

namespace ambit::ztunnel {

struct ZtunnelOptions {
  std::string node;
  std::string config_dir;         // local mode
  std::string discovery_address;  // Kubernetes mode: the agent's relay, "unix:/run/ambit/N/..."
  std::string pin_dir;            // default /sys/fs/bpf/ambit/<node>
  std::string run_dir;            // agent sockets; default /run/ambit/<node>
  std::string trust_domain = "cluster.local";
  uint32_t cert_ttl_seconds = 24 * 3600;
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 15000;
  std::string stats_address = "0.0.0.0";
  uint16_t metrics_port = 15020;
  uint16_t readiness_port = 15021;
  std::chrono::milliseconds drain_deadline{std::chrono::seconds(5)};
  // Upgrade hand-over: after SIGTERM, how long the pods' listeners stay open (accepting) until
  // a successor ztunnel listens in every pod; then the drain. 0: drain at once. A DaemonSet's
  // pod deleted or rolled is stopped while its replacement may still be starting: without the
  // wait its pods' new connections would be refused until the replacement took over.
  std::chrono::milliseconds successor_wait{0};
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // Inbound HBONE: a header block incomplete this long closes the connection (slowloris).
  std::chrono::milliseconds http2_header_timeout{std::chrono::seconds(10)};
  // HBONE both ways: a tunnel whose bytes the peer takes none of for this long is reset
  // (hbone::Http2Options::send_stall_timeout; 0: never).
  std::chrono::milliseconds http2_send_stall_timeout{std::chrono::seconds(60)};
  admin::AccessLogFormat access_log = admin::AccessLogFormat::kText;
  ConnectionCaps connection_caps;  // --max-connections-per-pod / --max-connections-per-node
};

Status finalizeOptions(ZtunnelOptions& options);

class Ztunnel {
 public:
  static Result<std::unique_ptr<Ztunnel>> create(ZtunnelOptions options);
  ~Ztunnel();

  // Runs until shutdown completes (drain after requestDrain(), or stop()).
  void run();
  // Graceful: stop accepting, GOAWAY, let tunnels finish until the drain deadline, exit.
  void requestDrain();

  struct Impl;

 private:
  explicit Ztunnel(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ambit::ztunnel
