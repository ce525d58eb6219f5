#include "ztunnel/metrics.h"

namespace ambit::ztunnel {

namespace {

std::string labelOr(const v1::Workload* w, const char* key, const std::string& fallback) {
  if (!w) return fallback;
  auto it = w->labels().find(key);
  return it == w->labels().end() ? fallback : it->second;
}

void addWorkload(prometheus::Labels& l, const std::string& side, const v1::Workload* w) {
  l[side + "_workload"] = w ? w->name() : "unknown";
  l[side + "_workload_namespace"] = w ? w->namespace_() : "unknown";
  l[side + "_app"] = labelOr(w, "app", "unknown");
  l[side + "_version"] = labelOr(w, "version", "unknown");
  l[side + "_canonical_service"] =
      w ? (w->canonical_name().empty() ? w->name() : w->canonical_name()) : "unknown";
  l[side + "_canonical_revision"] =
      w ? (w->canonical_revision().empty() ? "latest" : w->canonical_revision()) : "unknown";
  l[side + "_cluster"] = "Kubernetes";
}

}  // namespace

prometheus::Labels ConnectionLabels::toPrometheus() const {
  prometheus::Labels l;
  l["reporter"] = reporter;
  addWorkload(l, "source", source);
  l["source_principal"] = source_principal;
  addWorkload(l, "destination", destination);
  l["destination_principal"] = destination_principal;
  if (destination_service) {
    l["destination_service"] = destination_service->hostname();
    l["destination_service_name"] = destination_service->name();
    l["destination_service_namespace"] = destination_service->namespace_();
  } else if (destination) {
    l["destination_service"] = "unknown";
    l["destination_service_name"] = "unknown";
    l["destination_service_namespace"] = destination->namespace_();
  } else {
    l["destination_service"] = "unknown";
    l["destination_service_name"] = "unknown";
    l["destination_service_namespace"] = "unknown";
  }
  l["request_protocol"] = "tcp";
  l["response_flags"] = response_flags;
  l["connection_security_policy"] = mutual_tls ? "mutual_tls" : (reporter == "destination" ? "none" : "unknown");
  return l;
}

TcpMetrics::TcpMetrics(prometheus::Registry& r)
    : opened_(prometheus::BuildCounter()
                  .Name("istio_tcp_connections_opened_total")
                  .Help("Total TCP connections opened")
                  .Register(r)),
      closed_(prometheus::BuildCounter()
                  .Name("istio_tcp_connections_closed_total")
                  .Help("Total TCP connections closed")
                  .Register(r)),
      sent_(prometheus::BuildCounter()
                .Name("istio_tcp_sent_bytes_total")
                .Help("Bytes sent during response (destination to source) of TCP connections")
                .Register(r)),
      received_(prometheus::BuildCounter()
                    .Name("istio_tcp_received_bytes_total")
                    .Help("Bytes received during request (source to destination) of TCP connections")
                    .Register(r)),
      failed_(prometheus::BuildCounter()
                  .Name("istio_tcp_connections_failed_total")
                  .Help("Total TCP connections that could not be established")
                  .Register(r)) {}

ConnectionMetrics TcpMetrics::opened(const ConnectionLabels& labels) {
  auto l = labels.toPrometheus();
  opened_.Add(l).Increment();
  ConnectionMetrics m;
  m.sent_ = &sent_.Add(l);
  m.received_ = &received_.Add(l);
  m.closed_ = &closed_.Add(l);
  return m;
}

void TcpMetrics::failed(const ConnectionLabels& labels) { failed_.Add(labels.toPrometheus()).Increment(); }

void ConnectionMetrics::closed() {
  if (is_closed_ || !closed_) return;
  is_closed_ = true;
  closed_->Increment();
}

}  // namespace ambit::ztunnel
