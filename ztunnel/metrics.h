#pragma once
// Istio-standard TCP metrics (names and label set as Istio's ztunnel reports them), so Kiali
// and Istio's Grafana dashboards work unchanged:
//   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
//   istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total,
//   istio_tcp_connections_failed_total
// reporter="source" for outbound (client side), "destination" for inbound. A failed connection
// is also counted in the daemon's ambit_connection_failures_total{direction,reason}
// (common/admin/health_metrics.h) when a HealthMetrics is given.
//
// Thread-safe: prometheus-cpp counters are atomic; label-set lookup takes one lock once per
// connection (at open), never per byte. The counters of each label set are resolved in the
// families once and cached: prometheus-cpp's Family::Add copies the label map and allocates a
// metric on every call, even when the series exists (4 families x ~20 labels per connection).

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ambit/v1/workload.pb.h"
#include "common/admin/health_metrics.h"

namespace ambit::ztunnel {

struct ConnectionLabels {
  std::string reporter = "source";  // source | destination
  const v1::Workload* source = nullptr;
  std::string source_principal = "unknown";
  const v1::Workload* destination = nullptr;
  const v1::Service* destination_service = nullptr;
  std::string destination_principal = "unknown";
  bool mutual_tls = false;
  std::string response_flags = "-";

  prometheus::Labels toPrometheus() const;
};

// Counters for one connection, resolved once at open.
class ConnectionMetrics {
 public:
  void addSent(uint64_t n) {
    if (sent_) sent_->Increment(static_cast<double>(n));
  }
  void addReceived(uint64_t n) {
    if (received_) received_->Increment(static_cast<double>(n));
  }
  void closed();

 private:
  friend class TcpMetrics;
  prometheus::Counter* sent_ = nullptr;
  prometheus::Counter* received_ = nullptr;
  prometheus::Counter* closed_ = nullptr;
  bool is_closed_ = false;
};

class TcpMetrics {
 public:
  // `health` (optional) must outlive this object.
  explicit TcpMetrics(prometheus::Registry& registry, admin::HealthMetrics* health = nullptr);

  // Counts an opened connection and returns its byte/close counters.
  ConnectionMetrics opened(const ConnectionLabels& labels);
  // Counts a connection that could not be established or was refused; `reason` is a short
  // fixed word (policy_denied, mtls_required, app_unreachable, upstream_connect, no_config).
  void failed(const ConnectionLabels& labels, std::string_view reason);

 private:
  prometheus::Family<prometheus::Counter>& opened_;
  prometheus::Family<prometheus::Counter>& closed_;
  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& failed_;
  admin::HealthMetrics* health_;

  struct Series {
    prometheus::Counter* opened;
    prometheus::Counter* closed;
    prometheus::Counter* sent;
    prometheus::Counter* received;
  };
  std::mutex mu_;
  std::map<prometheus::Labels, Series> series_;  // guarded by mu_; grows like the families
};

}  // namespace ambit::ztunnel
