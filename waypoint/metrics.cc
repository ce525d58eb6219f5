#include "waypoint/metrics.h"

#include <fmt/format.h>

#include "common/admin/istio_labels.h"
#include "common/hbone/protocol.h"

namespace ambit::waypoint {
namespace {

const prometheus::Histogram::BucketBoundaries& durationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.5,  1,    5,     10,    25,    50,     100,    250,     500,    1000,
      2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
  return kBuckets;
}

const prometheus::Histogram::BucketBoundaries& byteBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
  return kBuckets;
}

// "ip:port" of the endpoint, "-" when the request was not forwarded.
std::string upstreamHost(const RequestRecord& rec) {
  return rec.upstream ? hbone::formatAuthority(*rec.upstream) : std::string("-");
}

}  // namespace

prometheus::Labels requestLabels(const RequestRecord& rec) {
  prometheus::Labels l;
  l["reporter"] = "waypoint";
  admin::addWorkloadLabels(l, "source", rec.source);
  l["source_principal"] = rec.source_principal.empty() ? "unknown" : rec.source_principal;
  admin::addWorkloadLabels(l, "destination", rec.destination);
  l["destination_principal"] =
      rec.destination && rec.index ? rec.index->spiffeId(*rec.destination) : std::string("unknown");
  admin::addServiceLabels(l, rec.service, rec.destination);
  l["request_protocol"] = rec.grpc ? "grpc" : "http";  // Istio's values, HTTP/1.1 and HTTP/2 alike
  l["response_code"] = std::to_string(rec.status);
  l["grpc_response_status"] = "";
  l["response_flags"] = rec.response_flags;
  l["connection_security_policy"] = "mutual_tls";
  return l;
}

HttpMetrics::HttpMetrics(prometheus::Registry& r)
    : requests_(prometheus::BuildCounter()
                    .Name("istio_requests_total")
                    .Help("Total requests handled by the waypoint")
                    .Register(r)),
      duration_(prometheus::BuildHistogram()
                    .Name("istio_request_duration_milliseconds")
                    .Help("Request duration in milliseconds")
                    .Register(r)),
      request_bytes_(prometheus::BuildHistogram()
                         .Name("istio_request_bytes")
                         .Help("Request sizes in bytes (headers and body)")
                         .Register(r)),
      response_bytes_(prometheus::BuildHistogram()
                          .Name("istio_response_bytes")
                          .Help("Response sizes in bytes (headers and body)")
                          .Register(r)) {}

HttpMetrics::Key::Key(const KeyView& v)
    : fields(v), source_principal(v.source_principal), response_flags(v.response_flags) {
  fields.source_principal = source_principal;
  fields.response_flags = response_flags;
}

size_t HttpMetrics::KeyHash::operator()(const KeyView& k) const {
  size_t h = std::hash<std::string_view>()(k.source_principal);
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  mix(k.serial);
  mix(std::hash<const void*>()(k.source));
  mix(std::hash<const void*>()(k.destination));
  mix(std::hash<const void*>()(k.service));
  mix(k.status * 2 + (k.grpc ? 1 : 0));
  mix(std::hash<std::string_view>()(k.response_flags));
  return h;
}

HttpMetrics::Series HttpMetrics::seriesFor(prometheus::Labels labels) {
  auto it = series_.find(labels);
  if (it == series_.end()) {
    Series fresh{&requests_.Add(labels), &duration_.Add(labels, durationBuckets()),
                 &request_bytes_.Add(labels, byteBuckets()),
                 &response_bytes_.Add(labels, byteBuckets())};
    it = series_.emplace(std::move(labels), fresh).first;
  }
  return it->second;
}

void HttpMetrics::record(const RequestRecord& rec) {
  const KeyView key{rec.index ? rec.index->serial() : 0,
                    rec.source,
                    rec.destination,
                    rec.service,
                    rec.status,
                    rec.grpc,
                    rec.source_principal,
                    rec.response_flags};
  Series s;
  {
    std::lock_guard lock(mu_);
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      s = it->second;
    } else {
      s = seriesFor(requestLabels(rec));
      if (key.serial > key_serial_) {
        by_key_.clear();
        key_serial_ = key.serial;
      }
      if (key.serial == key_serial_ && by_key_.size() < kMaxKeys) by_key_.emplace(Key(key), s);
    }
  }
  s.requests->Increment();
  s.duration->Observe(static_cast<double>(rec.duration.count()) / 1000.0);
  s.request_bytes->Observe(static_cast<double>(rec.request_bytes));
  s.response_bytes->Observe(static_cast<double>(rec.response_bytes));
}

admin::AccessLogRecord accessLogRecord(const RequestRecord& rec) {
  auto orDash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  admin::AccessLogRecord r;
  r.add("start_time", admin::accessLogTime(rec.wall_start))
      .add("method", rec.method)
      .add("path", rec.path)
      .add("protocol", rec.protocol)
      .add("response_code", uint64_t{rec.status})
      .add("response_flags", orDash(rec.response_flags))
      .add("authority", orDash(rec.host))
      .add("upstream_host", upstreamHost(rec))
      .add("route_name", orDash(rec.route))
      .add("src.addr", rec.source_ip.to_string())
      .add("src.workload", rec.source ? rec.source->name() : "-")
      .add("src.namespace", rec.source ? rec.source->namespace_() : "-")
      .add("src.identity", orDash(rec.source_principal))
      .add("dst.service", rec.service ? rec.service->hostname() : "-")
      .add("dst.workload", rec.destination ? rec.destination->name() : "-")
      .add("dst.namespace", rec.destination ? rec.destination->namespace_() : "-")
      .add("dst.identity",
           rec.destination && rec.index ? rec.index->spiffeId(*rec.destination) : std::string("-"))
      .add("authz", rec.authz)
      .add("policy", orDash(rec.policy))
      .add("reason", orDash(rec.authz_reason))
      .add("bytes_received", rec.request_bytes)
      .add("bytes_sent", rec.response_bytes)
      .add("duration_ms", static_cast<double>(rec.duration.count()) / 1000.0)
      .add("user_agent", orDash(rec.user_agent))
      .add("request_id", orDash(rec.request_id))
      .add("trace_id", orDash(rec.trace_id));
  return r;
}

Span spanFor(const RequestRecord& rec) {
  Span s;
  s.trace_id = rec.trace_id;
  s.id = rec.span_id;
  s.parent_id = rec.parent_span_id;
  s.name = (rec.service ? rec.service->hostname() : rec.host) + "/*";
  s.kind = SpanKind::kServer;
  s.start = rec.wall_start;
  s.duration = rec.duration;
  s.tags = {{"http.method", rec.method},
            {"http.url", rec.path},
            {"http.status_code", std::to_string(rec.status)},
            {"response_flags", rec.response_flags},
            {"upstream_cluster", upstreamHost(rec)},
            {"istio.source_principal", rec.source_principal},
            {"istio.canonical_service", rec.service ? rec.service->name() : "-"},
            {"istio.namespace", rec.service ? rec.service->namespace_() : "-"},
            {"component", "proxy"}};
  if (rec.status >= 500 || rec.status == 0) {
    s.error = true;
    s.status_message = fmt::format("HTTP {} {}", rec.status, rec.response_flags);
  }
  return s;
}

std::optional<Span> upstreamSpanFor(const RequestRecord& rec) {
  if (!rec.forwarded) return std::nullopt;
  Span s;
  s.trace_id = rec.trace_id;
  s.id = rec.upstream_span_id;
  s.parent_id = rec.span_id;
  s.name = "router " + upstreamHost(rec) + " egress";
  s.kind = SpanKind::kClient;
  s.start = rec.upstream_wall_start;
  s.duration = rec.upstream_duration;
  s.tags = {{"http.method", rec.method},
            {"http.url", rec.path},
            {"http.status_code", std::to_string(rec.status)},
            {"upstream_cluster", upstreamHost(rec)},
            {"peer.service", rec.service ? rec.service->hostname() : "-"},
            {"component", "proxy"}};
  if (rec.destination) {
    s.tags["istio.destination_workload"] = admin::workloadName(*rec.destination);
    s.tags["istio.destination_namespace"] = rec.destination->namespace_();
  }
  if (rec.upstream) {
    s.remote_ip = rec.upstream->address().to_string();
    s.remote_port = rec.upstream->port();
  }
  if (rec.status >= 500 || rec.status == 0) {
    s.error = true;
    s.status_message = fmt::format("HTTP {} {}", rec.status, rec.response_flags);
  }
  return s;
}

}  // namespace ambit::waypoint
