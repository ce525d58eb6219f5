// ambit-ztunnel: the per-node mTLS tunnel (HBONE), fed pods by the node agent.
#include <CLI/CLI.hpp>

#include "common/admin/access_log_flags.h"
#include "common/admin/metrics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "ztunnel/ztunnel.h"

int main(int argc, char** argv) {
  ambit::ztunnel::ZtunnelOptions o;
  std::string log_level = "info";
  uint32_t drain_ms = 5000;
  uint32_t handshake_timeout_ms = 10000;
  uint32_t http2_header_timeout_ms = 10000;
  CLI::App app{"ambit-ztunnel: node mTLS tunnel for ambient pods"};
  app.add_option("--node", o.node, "node name (must match the agent's)");
  app.add_option("--config-dir", o.config_dir, "directory of Kubernetes-shaped YAML (local mode)");
  app.add_option("--discovery-address", o.discovery_address,
                 "the node agent's mesh relay, e.g. unix:/run/ambit/NODE/discovery.sock "
                 "(Kubernetes mode)");
  app.add_option("--pin-dir", o.pin_dir, "agent's bpffs pin directory [/sys/fs/bpf/ambit/NODE]");
  app.add_option("--run-dir", o.run_dir, "agent's socket directory [/run/ambit/NODE]");
  app.add_option("--trust-domain", o.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--cert-ttl", o.cert_ttl_seconds, "requested workload certificate TTL, seconds")
      ->capture_default_str();
  app.add_option("--admin-port", o.admin_port, "admin port on localhost")->capture_default_str();
  app.add_option("--metrics-port", o.metrics_port, "Prometheus port")->capture_default_str();
  app.add_option("--readiness-port", o.readiness_port, "readiness port")->capture_default_str();
  app.add_option("--stats-address", o.stats_address, "address for metrics and readiness")
      ->capture_default_str();
  app.add_option("--drain-ms", drain_ms, "how long open tunnels may run after SIGTERM")
      ->capture_default_str();
  uint32_t successor_wait_ms = 0;
  app.add_option("--successor-wait-ms", successor_wait_ms,
                 "after SIGTERM, how long the pods' listeners stay open until a successor "
                 "ztunnel listens in every pod (upgrade hand-over), before the drain; 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0u, 600000u));
  app.add_option("--handshake-timeout-ms", handshake_timeout_ms,
                 "an inbound TLS handshake not finished by then is closed")
      ->capture_default_str()
      ->check(CLI::Range(100u, 600000u));
  app.add_option("--http2-header-timeout-ms", http2_header_timeout_ms,
                 "an inbound HBONE connection whose HTTP/2 header block is not complete this long "
                 "after its first byte is closed (slow headers)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 600000u));
  uint32_t http2_send_stall_timeout_ms = 60000;
  app.add_option("--http2-send-stall-timeout-ms", http2_send_stall_timeout_ms,
                 "an HBONE tunnel (inbound or outbound) with bytes waiting of which the peer takes "
                 "none (its HTTP/2 "
                 "window stays shut) for this long is reset, its TCP side closed; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0u, 0u) | CLI::Range(100u, 86400000u));
  app.add_option("--max-connections-per-pod", o.connection_caps.per_pod,
                 "open proxied connections one pod may have (outbound + inbound); more are "
                 "refused and counted in ambit_ztunnel_connections_refused_total")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000000u));
  app.add_option("--max-connections-per-node", o.connection_caps.per_node,
                 "open proxied connections of all pods together")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000000u));
  ambit::admin::addAccessLogFlags(app, o.access_log);
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!ambit::initLogging("ztunnel", log_level)) {
    std::fprintf(stderr, "ambit-ztunnel: --log-level '%s' is not a level\n", log_level.c_str());
    return 2;
  }
  ambit::admin::exposeProcessMetrics("ztunnel");
  o.drain_deadline = std::chrono::milliseconds(drain_ms);
  o.successor_wait = std::chrono::milliseconds(successor_wait_ms);
  o.handshake_timeout = std::chrono::milliseconds(handshake_timeout_ms);
  o.http2_header_timeout = std::chrono::milliseconds(http2_header_timeout_ms);
  o.http2_send_stall_timeout = std::chrono::milliseconds(http2_send_stall_timeout_ms);
  // Signals are taken from here on: create() may wait up to a minute for the agent, and a
  // SIGTERM then (e.g. `lab down`) must not have to wait for it.
  ambit::Daemon daemon("ztunnel", o.successor_wait + o.drain_deadline);
  auto zt = ambit::ztunnel::Ztunnel::create(o);
  if (!zt) {
    ambit::logError("cannot start: {}", zt.error().message);
    return 1;
  }
  int status = daemon.serve([&] { (*zt)->run(); }, [&] { (*zt)->requestDrain(); });
  ambit::logInfo("ztunnel stopped");
  return status;
}
