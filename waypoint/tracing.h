#pragma once
// Distributed tracing in the waypoint: the trace context of each request is read from W3C
// `traceparent`, else B3 single (`b3`), else B3 multi (`x-b3-*`) headers, or started fresh;
// the waypoint's own span (a child of the caller's) is propagated upstream in both W3C and
// B3 multi form, and reported as Zipkin v2 JSON to a collector (ZipkinExporter).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
// Replaces the request's trace headers with our span as the parent of what comes next.
void injectTrace(HttpRequest& request, const TraceContext& ctx, const std::string& span_id);

struct Span {
  std::string trace_id;
  std::string id;
  std::string parent_id;  // empty: root
  std::string name;       // e.g. "my-app.default.svc.cluster.local:80/*"
  std::chrono::system_clock::time_point start;
  std::chrono::microseconds duration{0};
  std::map<std::string, std::string> tags;
};

// A Zipkin v2 JSON array of spans (kind SERVER, localEndpoint serviceName = `service`).
std::string zipkinJson(const std::vector<Span>& spans, const std::string& service);

// Batches spans and POSTs them to <collector>/api/v2/spans every `flush_interval` (or when
// `max_batch` are queued). Best effort: a failed post drops that batch and is logged.
// Runs on one executor (the data thread); add() from there only.
class ZipkinExporter {
 public:
  ZipkinExporter(asio::any_io_executor executor, asio::ip::tcp::endpoint collector,
                 std::string service,
                 std::chrono::milliseconds flush_interval = std::chrono::seconds(1),
                 size_t max_batch = 512);
  ~ZipkinExporter();
  void add(Span span);
  uint64_t exported() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace ambit::waypoint
