#pragma once
// ambit-waypoint: the L7 proxy of a namespace. Accepts HBONE from client ztunnels on
// <listen>:15008 as spiffe://<td>/ns/<ns>/sa/<service account> (certificate from the node
// agent's CertificateService), serves HTTP/1.1 or HTTP/2 (h2c) inside each tunnel (HttpProxy:
// routes, RequestAuthentication, L7 authorization, retries, faults) and forwards over HBONE to
// the chosen endpoints. Draining (stop()) sends GOAWAY inside every HTTP/2 tunnel as well as on
// the HBONE connections, after an optional shutdown delay in which it still serves everything
// while readiness fails. Operational endpoints: /metrics on 15020, /healthz/ready on 15021
// (ready once the certificate is issued and a configuration is loaded, until stop()).
//
// Threads: one data thread (io_context) runs the config watcher, identity, HBONE server and
// client pool and every request; one admin thread serves metrics and readiness.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/admin/access_log.h"
#include "common/status.h"
#include "waypoint/http_codec.h"
#include "waypoint/http_proxy.h"

namespace ambit::waypoint {

struct WaypointOptions {
  std::string config_dir;         // local mode
  std::string discovery_address;  // Kubernetes mode: ambit-control "host:port" (TLS)
  std::string control_ca;         // ambit-control's trust anchor (TLS addresses)
  std::string token_file;         // projected service-account token for ambit-control
  std::string ca_address;         // "unix:/run/ambit/<node>/ca.sock" or ambit-control
  std::string node;               // sent with certificate requests
  std::string trust_domain = "cluster.local";
  std::string service_account = "waypoint";
  WaypointGateway gateway;  // gateway.ns is also the waypoint's namespace
  std::string listen_address = "::";
  uint16_t hbone_port = 15008;  // 0: any free port (tests)
  std::string stats_address = "0.0.0.0";
  uint16_t metrics_port = 15020;
  uint16_t readiness_port = 15021;
  uint32_t cert_ttl_seconds = 24 * 3600;
  HttpLimits limits;
  admin::AccessLogFormat access_log = admin::AccessLogFormat::kText;
  std::string zipkin_address;  // "ip:port" of a Zipkin collector; empty: no Zipkin export
  std::string otlp_endpoint;   // "http://host:port/v1/traces" (OTLP/HTTP JSON); empty: none
  std::chrono::milliseconds drain_deadline{std::chrono::seconds(5)};
  // After stop(), how long the waypoint goes on accepting and serving as usual (new HBONE
  // connections, tunnels and requests; no GOAWAY) while /healthz/ready already fails, before
  // the drain. Clients learn that a terminating pod is no endpoint a moment after its SIGTERM;
  // without the delay their connections in between would be refused. 0: drain at once.
  std::chrono::milliseconds shutdown_delay{0};
  // HBONE and the HTTP/2 inside tunnels: a header block incomplete this long after its first
  // byte closes the connection (slow headers).
  std::chrono::milliseconds http2_header_timeout{std::chrono::seconds(10)};
  // HBONE both ways: a tunnel whose bytes the peer takes none of for this long is reset
  // (hbone::Http2Options::send_stall_timeout; 0: never).
  std::chrono::milliseconds http2_send_stall_timeout{std::chrono::seconds(60)};
  // RequestAuthentication jwksUri: how often keys are refetched (Istio's default: 20 min).
  std::chrono::milliseconds jwks_refresh_interval{std::chrono::minutes(20)};
};

class Waypoint {
 public:
  static Result<std::unique_ptr<Waypoint>> create(WaypointOptions options);
  ~Waypoint();
  Waypoint(const Waypoint&) = delete;
  Waypoint& operator=(const Waypoint&) = delete;

  // Runs until stop() (blocks the calling thread, which becomes the data thread).
  void run();
  // Thread-safe: readiness fails at once; after shutdown_delay the waypoint drains (stops
  // accepting, GOAWAY; open tunnels get up to drain_deadline) and run() returns. Later calls do
  // nothing (one drain; a call during the delay does not shorten it).
  void stop();
  uint16_t hbonePort() const;
  uint16_t metricsPort() const;
  uint16_t readinessPort() const;

  struct Impl;

 private:
  explicit Waypoint(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace ambit::waypoint
