// ambit-control: the Kubernetes-mode control plane (watch, translate, discovery, CA, waypoints).
#include <CLI/CLI.hpp>

#include "common/admin/metrics.h"
#include "common/daemon.h"
#include "common/log.h"
#include "control/control.h"

int main(int argc, char** argv) {
  ambit::control::ControlOptions o;
  std::string log_level = "info";
  std::string server_names;
  CLI::App app{"ambit-control: control plane for ambit in Kubernetes"};
  app.add_option("--kubeconfig", o.kubeconfig, "kubeconfig file (default: in-cluster config)");
  app.add_option("--namespace", o.ns, "namespace ambit runs in (CA Secret, node agent)")
      ->capture_default_str()
      ->envname("POD_NAMESPACE");
  app.add_option("--instance", o.instance, "this replica's name for Events [hostname]")
      ->envname("POD_NAME");
  app.add_option("--listen", o.listen, "gRPC (discovery + certificates, TLS) address")
      ->capture_default_str();
  app.add_option("--monitoring-address", o.monitoring_address, "/metrics, /ready, /healthz")
      ->capture_default_str();
  app.add_option("--monitoring-port", o.monitoring_port, "monitoring port")->capture_default_str();
  app.add_option("--trust-domain", o.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--root-namespace", o.root_namespace, "mesh-wide policy namespace")
      ->capture_default_str();
  app.add_option("--cluster-domain", o.cluster_domain, "DNS suffix of services")
      ->capture_default_str();
  app.add_option("--ca-secret", o.ca_secret, "Secret holding ambit's generated CA")
      ->capture_default_str();
  app.add_option("--plugin-ca-secret", o.plugin_ca_secret,
                 "user-provided CA Secret (Istio's cacerts layout); wins when present")
      ->capture_default_str();
  app.add_option("--root-cert-configmap", o.root_cert_configmap,
                 "ConfigMap published in every namespace with the root certificate")
      ->capture_default_str();
  app.add_option("--token-audience", o.token_audience, "audience callers' tokens must carry")
      ->capture_default_str();
  app.add_option("--service-account", o.service_account, "its own service account")
      ->capture_default_str();
  app.add_option("--node-agent-service-account", o.node_agent_service_account,
                 "service account of the node DaemonSet (may request identities of its node)")
      ->capture_default_str();
  app.add_option("--server-names", server_names,
                 "comma-separated DNS names of the serving certificate "
                 "[ambit-control.<namespace>.svc,...]");
  app.add_option("--waypoint-image", o.waypoint.image, "image of created waypoints")
      ->capture_default_str();
  app.add_option("--waypoint-image-pull-policy", o.waypoint.image_pull_policy)
      ->capture_default_str();
  app.add_option("--waypoint-control-address", o.waypoint.control_address,
                 "address waypoints dial [ambit-control.<namespace>.svc:<port>]");
  app.add_option("--waypoint-zipkin-address", o.waypoint.zipkin_address,
                 "created waypoints report spans to this Zipkin collector (ip:port)");
  app.add_option("--waypoint-otlp-endpoint", o.waypoint.otlp_endpoint,
                 "created waypoints report spans here (OTLP/HTTP, http://host:4318/v1/traces)");
  uint32_t waypoint_shutdown_delay_s = 5;
  app.add_option("--waypoint-shutdown-delay-seconds", waypoint_shutdown_delay_s,
                 "created waypoints keep accepting this long after SIGTERM while not ready, until "
                 "the ztunnels stop picking them (their --shutdown-delay-ms)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 600u));
  uint32_t waypoint_drain_s = 5;
  app.add_option("--waypoint-drain-seconds", waypoint_drain_s,
                 "then, how long the waypoints' open tunnels may run (their --drain-ms)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600u));
  uint32_t push_debounce_ms = static_cast<uint32_t>(o.push_debounce.count());
  app.add_option("--push-debounce-ms", push_debounce_ms,
                 "after a change, wait this long for more before pushing to the node agents and "
                 "waypoints: the changes of the window go out together (Istio's "
                 "PILOT_DEBOUNCE_AFTER)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 10000u));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.push_debounce = std::chrono::milliseconds(push_debounce_ms);
  if (!ambit::initLogging("control", log_level)) {
    std::fprintf(stderr, "ambit-control: --log-level '%s' is not a level\n", log_level.c_str());
    return 2;
  }
  ambit::admin::exposeProcessMetrics("control");
  o.waypoint.shutdown_delay = std::chrono::seconds(waypoint_shutdown_delay_s);
  o.waypoint.drain = std::chrono::seconds(waypoint_drain_s);
  for (size_t start = 0; start < server_names.size();) {
    size_t comma = server_names.find(',', start);
    if (comma == std::string::npos) comma = server_names.size();
    if (comma > start) o.server_names.push_back(server_names.substr(start, comma - start));
    start = comma + 1;
  }
  ambit::Daemon daemon("control", std::chrono::milliseconds(1000));
  auto control = ambit::control::Control::create(o);
  if (!control) {
    ambit::logError("cannot start: {}", control.error().message);
    return 1;
  }
  int status = daemon.serve([&] { (*control)->run(); }, [&] { (*control)->stop(); });
  ambit::logInfo("ambit-control stopped");
  return status;
}
