#pragma once
// Istio-standard HTTP metrics reported by the waypoint (reporter="waypoint"), with Istio's
// label set (source/destination workload, principal, service, response_code,
// request_protocol="http", response_flags, connection_security_policy):
//   istio_requests_total                       counter
//   istio_request_duration_milliseconds        histogram
//   istio_request_bytes, istio_response_bytes  histograms
// plus the access log line per request.
//
// Thread-safe (prometheus-cpp metrics are atomic). The four series of a label set are looked
// up in the families once and cached: Family::Add copies the label map and hashes it, and the
// histograms' bucket vectors would be rebuilt per request (the waypoint's top hotspot in
// tests/bench). In front of that cache sits one keyed by what the labels are computed from
// (the workloads' and service's addresses in the request's index, the principal, the code,
// the flags): building the ~25-label map per request was ~9% of the waypoint's CPU.

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/admin/access_log.h"
#include "waypoint/http_proxy.h"
#include "waypoint/tracing.h"

namespace ambit::waypoint {

class HttpMetrics {
 public:
  explicit HttpMetrics(prometheus::Registry& registry);
  void record(const RequestRecord& rec);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& request_bytes_;
  prometheus::Family<prometheus::Histogram>& response_bytes_;
  struct Series {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
    prometheus::Histogram* request_bytes;
    prometheus::Histogram* response_bytes;
  };
  // What requestLabels() reads: pointers into the index numbered `serial` (MeshIndex::serial).
  struct KeyView {
    uint64_t serial;
    const void* source;
    const void* destination;
    const void* service;
    unsigned status;
    bool grpc;
    std::string_view source_principal;
    std::string_view response_flags;
    bool operator==(const KeyView&) const = default;
  };
  struct Key {
    KeyView fields;  // its two views point into the strings below, which own the bytes
    std::string source_principal;
    std::string response_flags;
    explicit Key(const KeyView& v);
    Key(const Key& other) : Key(other.fields) {}
    Key& operator=(const Key&) = delete;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const KeyView& k) const;
    size_t operator()(const Key& k) const { return (*this)(k.fields); }
  };
  struct KeyEqual {
    using is_transparent = void;
    static const KeyView& view(const KeyView& k) { return k; }
    static const KeyView& view(const Key& k) { return k.fields; }
    bool operator()(const auto& a, const auto& b) const { return view(a) == view(b); }
  };
  // Bounds the fast cache (distinct principals x codes x flags); the label map below still
  // serves whatever does not fit.
  static constexpr size_t kMaxKeys = 4096;

  Series seriesFor(prometheus::Labels labels);  // mu_ held

  std::mutex mu_;
  std::map<prometheus::Labels, Series> series_;  // guarded by mu_; grows like the families
  // Guarded by mu_: the newest index's keys only (an older index's requests take the slow
  // path; a newer one empties it).
  std::unordered_map<Key, Series, KeyHash, KeyEqual> by_key_;
  uint64_t key_serial_ = 0;
};

prometheus::Labels requestLabels(const RequestRecord& rec);

// The request's access-log record (docs/observability.md), Envoy's and Istio's fields:
//   start_time method path protocol response_code response_flags authority upstream_host
//   route_name src.addr src.workload src.namespace src.identity dst.service dst.workload
//   dst.namespace dst.identity authz policy reason bytes_received bytes_sent duration_ms
//   user_agent request_id trace_id
admin::AccessLogRecord accessLogRecord(const RequestRecord& rec);

// The waypoint's SERVER span for a request (tags: http.method, http.url, http.status_code,
// upstream_cluster, response_flags, istio.canonical_service ...); an error span for 5xx.
Span spanFor(const RequestRecord& rec);
// Its CLIENT span: the call to the endpoint (retries included), a child of the SERVER span, the
// parent the endpoint sees; nullopt when the request was not forwarded (denied, no route, ...).
std::optional<Span> upstreamSpanFor(const RequestRecord& rec);

}  // namespace ambit::waypoint
