#pragma once
// Distributed tracing in the waypoint: the trace context of each request is read from W3C
// `traceparent`, else B3 single (`b3`), else B3 multi (`x-b3-*`) headers, or started fresh;
// the waypoint's spans (a SERVER span, child of the caller's, and a CLIENT span for the upstream
// request, child of the SERVER span) are propagated upstream in both W3C and B3 multi form, and
// reported to a collector as Zipkin v2 JSON or OTLP/HTTP JSON (span_exporter.h, otlp_json.h).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "waypoint/http_codec.h"

namespace ambit::waypoint {

struct TraceContext {
  std::string trace_id;        // 32 lowercase hex (a 16-hex B3 id is left-padded)
  std::string parent_span_id;  // the caller's span, 16 hex; empty for a new trace
  bool sampled = true;
};

// The incoming context, or nullopt when the request carries none (or only malformed ones).
std::optional<TraceContext> extractTrace(const HttpRequest& request);
// A fresh trace context (random trace id, no parent).
TraceContext newTrace();
// A random 16-hex span id.
std::string newSpanId();
// Replaces the request's trace headers: the next hop sees `span_id` as its parent span, and
// `parent_span_id` (ours) as that span's parent. The views must not point into `request`'s
// own fields (those are erased first).
void injectTrace(HttpRequest& request, std::string_view trace_id, bool sampled,
                 std::string_view parent_span_id, std::string_view span_id);

// SERVER: the waypoint receiving a request; CLIENT: the waypoint calling the endpoint.
enum class SpanKind { kServer, kClient };

struct Span {
  std::string trace_id;   // 32 lowercase hex
  std::string id;         // 16 lowercase hex
  std::string parent_id;  // empty: root
  std::string name;       // e.g. "my-app.default.svc.cluster.local/*"
  SpanKind kind = SpanKind::kServer;
  std::chrono::system_clock::time_point start;
  std::chrono::microseconds duration{0};
  std::map<std::string, std::string> tags;  // string values (Zipkin's model)
  bool error = false;                       // the operation failed (5xx, no upstream)
  std::string status_message;               // why, when error
  std::string remote_ip;                    // CLIENT: the endpoint called; empty: unknown
  uint16_t remote_port = 0;
};

// A Zipkin v2 JSON array of spans (localEndpoint serviceName = `service`; CLIENT spans carry the
// remoteEndpoint; an error span the tag error=<status message or "true">).
std::string zipkinJson(const std::vector<Span>& spans, const std::string& service);

}  // namespace ambit::waypoint
