#pragma once
// SpanExporter: batches the waypoint's spans and POSTs them to a trace collector, in one of two
// wire formats:
//   Zipkin v2 JSON  --zipkin-address ip:port            POST /api/v2/spans
//   OTLP/HTTP JSON  --otlp-endpoint http://host:port/p  POST /p (e.g. /v1/traces; otlp_json.h)
// Best effort, as tracers are: a batch goes every `flush_interval` (sooner when `max_batch` are
// queued); a failed post drops that batch and is logged; past twice `max_batch` queued spans are
// dropped. The collector's host may be a name, resolved at each post (a collector Service that
// moves is followed).
//
// Thread: runs on one executor (the waypoint's data thread); add() from there only.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "waypoint/otlp_json.h"
#include "waypoint/tracing.h"

namespace ambit::waypoint {

enum class SpanFormat { kZipkinV2, kOtlpJson };

struct TraceCollector {
  SpanFormat format = SpanFormat::kZipkinV2;
  std::string host;  // IP literal (no brackets) or DNS name
  uint16_t port = 0;
  std::string path;  // request target
};

// "ip:port" or "[v6]:port" of a Zipkin collector.
Result<TraceCollector> zipkinCollector(std::string_view address);
// "http://host[:port][/path]" of an OTLP/HTTP receiver; the port defaults to 80 (URL rules), an
// empty path to /v1/traces. https is refused (no TLS to collectors yet).
Result<TraceCollector> otlpCollector(std::string_view url);

class SpanExporter {
 public:
  SpanExporter(asio::any_io_executor executor, TraceCollector collector, TraceResource resource,
               std::chrono::milliseconds flush_interval = std::chrono::seconds(1),
               size_t max_batch = 512);
  ~SpanExporter();
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;

  void add(Span span);
  uint64_t exported() const;  // spans the collector accepted
  uint64_t dropped() const;   // spans lost: failed posts and overflow

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace ambit::waypoint
