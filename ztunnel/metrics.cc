#include "ztunnel/metrics.h"

#include "common/admin/istio_labels.h"

namespace ambit::ztunnel {

prometheus::Labels ConnectionLabels::toPrometheus() const {
  prometheus::Labels l;
  l["reporter"] = reporter;
  admin::addWorkloadLabels(l, "source", source);
  l["source_principal"] = source_principal;
  admin::addWorkloadLabels(l, "destination", destination);
  l["destination_principal"] = destination_principal;
  admin::addServiceLabels(l, destination_service, destination);
  l["request_protocol"] = "tcp";
  l["response_flags"] = response_flags;
  l["connection_security_policy"] =
      mutual_tls ? "mutual_tls" : (reporter == "destination" ? "none" : "unknown");
  return l;
}

TcpMetrics::TcpMetrics(prometheus::Registry& r, admin::HealthMetrics* health)
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
      received_(
          prometheus::BuildCounter()
              .Name("istio_tcp_received_bytes_total")
              .Help("Bytes received during request (source to destination) of TCP connections")
              .Register(r)),
      failed_(prometheus::BuildCounter()
                  .Name("istio_tcp_connections_failed_total")
                  .Help("Total TCP connections that could not be established")
                  .Register(r)),
      health_(health) {}

ConnectionMetrics TcpMetrics::opened(const ConnectionLabels& labels) {
  auto l = labels.toPrometheus();
  Series s;
  {
    std::lock_guard lock(mu_);
    auto it = series_.find(l);
    if (it == series_.end()) {
      Series fresh{&opened_.Add(l), &closed_.Add(l), &sent_.Add(l), &received_.Add(l)};
      it = series_.emplace(std::move(l), fresh).first;
    }
    s = it->second;
  }
  s.opened->Increment();
  ConnectionMetrics m;
  m.sent_ = s.sent;
  m.received_ = s.received;
  m.closed_ = s.closed;
  return m;
}

void TcpMetrics::failed(const ConnectionLabels& labels, std::string_view reason) {
  failed_.Add(labels.toPrometheus()).Increment();
  if (health_) {
    health_->connectionFailed(labels.reporter == "source" ? "outbound" : "inbound", reason);
  }
}

void ConnectionMetrics::closed() {
  if (is_closed_ || !closed_) return;
  is_closed_ = true;
  closed_->Increment();
}

}  // namespace ambit::ztunnel
