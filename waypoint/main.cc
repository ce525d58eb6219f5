// ambit-waypoint: the L7 proxy of a namespace (HBONE in, HTTP routing and policy, HBONE out).
#include <CLI/CLI.hpp>

#include "common/admin/access_log_flags.h"
#include "common/admin/metrics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/malloc_tunables.h"
#include "waypoint/waypoint.h"

int main(int argc, char** argv) {
  // glibc's per-thread malloc cache, 32 blocks per size (common/malloc_tunables.h).
  ambit::ensureMallocTcacheCount(argv, 32);
  ambit::waypoint::WaypointOptions o;
  std::string log_level = "info";
  uint32_t drain_ms = 5000;
  CLI::App app{"ambit-waypoint: L7 proxy for ambient services"};
  // Exactly one of --config-dir and --discovery-address (checked by validateMeshSource).
  app.add_option("--config-dir", o.config_dir, "directory of Kubernetes-shaped YAML (local mode)");
  app.add_option("--discovery-address", o.discovery_address,
                 "ambit-control's address, host:port (Kubernetes mode)");
  app.add_option("--control-ca", o.control_ca, "ambit-control's root certificate (PEM file)");
  app.add_option("--token-file", o.token_file, "service-account token for ambit-control");
  app.add_option("--ca-address", o.ca_address, "CertificateService, e.g. unix:/run/ambit/N/ca.sock")
      ->required();
  app.add_option("--node", o.node, "node name sent with certificate requests");
  app.add_option("--trust-domain", o.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--namespace", o.gateway.ns, "the waypoint's namespace")->capture_default_str();
  app.add_option("--gateway", o.gateway.name, "the waypoint's Gateway name")->capture_default_str();
  app.add_option("--gateway-class", o.gateway.gateway_class, "its gatewayClassName")
      ->capture_default_str();
  app.add_option("--service-account", o.service_account, "service account (identity)")
      ->capture_default_str();
  app.add_option("--listen", o.listen_address, "HBONE listen address")->capture_default_str();
  app.add_option("--hbone-port", o.hbone_port, "HBONE port")->capture_default_str();
  app.add_option("--stats-address", o.stats_address, "address for metrics and readiness")
      ->capture_default_str();
  app.add_option("--metrics-port", o.metrics_port, "Prometheus port")->capture_default_str();
  app.add_option("--readiness-port", o.readiness_port, "readiness port")->capture_default_str();
  app.add_option("--cert-ttl", o.cert_ttl_seconds, "requested certificate TTL, seconds")
      ->capture_default_str()
      ->check(CLI::Range(10u, 365u * 24 * 3600));
  app.add_option("--max-header-bytes", o.limits.header_bytes, "request/response header limit")
      ->capture_default_str();
  app.add_option("--max-body-bytes", o.limits.body_bytes, "request/response body limit")
      ->capture_default_str();
  uint32_t http2_header_timeout_ms = 10000;
  app.add_option("--http2-header-timeout-ms", http2_header_timeout_ms,
                 "an HTTP/2 connection (HBONE, or h2c in a tunnel) whose header block is not "
                 "complete this long after its first byte is closed (slow headers)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 600000u));
  uint32_t http2_send_stall_timeout_ms = 60000;
  app.add_option("--http2-send-stall-timeout-ms", http2_send_stall_timeout_ms,
                 "an HBONE tunnel with bytes waiting of which the peer takes none (its HTTP/2 "
                 "window stays shut) for this long is reset, its TCP side closed; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0u, 0u) | CLI::Range(100u, 86400000u));
  app.add_option("--drain-ms", drain_ms, "how long open tunnels may run after SIGTERM")
      ->capture_default_str();
  uint32_t shutdown_delay_ms = 0;
  app.add_option("--shutdown-delay-ms", shutdown_delay_ms,
                 "after SIGTERM, how long readiness fails while new connections are still "
                 "accepted and served (until clients stop picking this pod), before the drain; "
                 "0: drain at once")
      ->capture_default_str()
      ->check(CLI::Range(0u, 600000u));
  ambit::admin::addAccessLogFlags(app, o.access_log);
  app.add_option("--zipkin-address", o.zipkin_address,
                 "ip:port of a Zipkin collector (spans POSTed to /api/v2/spans)");
  app.add_option("--otlp-endpoint", o.otlp_endpoint,
                 "OTLP/HTTP traces URL, e.g. http://jaeger-collector:4318/v1/traces (JSON)");
  uint32_t jwks_refresh_s = 20 * 60;
  app.add_option("--jwks-refresh-interval", jwks_refresh_s,
                 "seconds between refetches of RequestAuthentication jwksUri keys")
      ->capture_default_str()
      ->check(CLI::Range(1u, 7u * 24 * 3600));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!ambit::initLogging("waypoint", log_level)) {
    std::fprintf(stderr, "ambit-waypoint: --log-level '%s' is not a level\n", log_level.c_str());
    return 2;
  }
  ambit::admin::exposeProcessMetrics("waypoint");
  o.drain_deadline = std::chrono::milliseconds(drain_ms);
  o.shutdown_delay = std::chrono::milliseconds(shutdown_delay_ms);
  o.http2_header_timeout = std::chrono::milliseconds(http2_header_timeout_ms);
  o.http2_send_stall_timeout = std::chrono::milliseconds(http2_send_stall_timeout_ms);
  o.jwks_refresh_interval = std::chrono::seconds(jwks_refresh_s);
  ambit::Daemon daemon("waypoint", o.shutdown_delay + o.drain_deadline);
  auto wp = ambit::waypoint::Waypoint::create(o);
  if (!wp) {
    ambit::logError("cannot start: {}", wp.error().message);
    return 1;
  }
  int status = daemon.serve([&] { (*wp)->run(); }, [&] { (*wp)->stop(); });
  ambit::logInfo("waypoint stopped");
  return status;
}
