#pragma once
// OTLP/HTTP JSON encoding of the waypoint's spans (the ExportTraceServiceRequest of
// opentelemetry-proto's collector/trace/v1, in the protobuf JSON mapping that OTLP/HTTP
// specifies for Content-Type application/json):
//   - traceId / spanId / parentSpanId are lowercase hex strings (OTLP's exception to the base64
//     of the protobuf JSON mapping), parentSpanId left out for a root span;
//   - startTimeUnixNano / endTimeUnixNano are decimal strings (fixed64);
//   - kind is the SpanKind enum as a number (2 SERVER, 3 CLIENT);
//   - status is {"code": 2, "message": ...} for an error span (STATUS_CODE_ERROR), else
//     {"code": 0} (UNSET: the span reports no status of its own);
//   - attributes are KeyValue lists: stringValue, or intValue (a decimal string) for the
//     integer attributes (http.status_code, http.response.status_code, server.port).
// One ResourceSpans (the waypoint's resource) holding one ScopeSpans (scope ambit-waypoint).

#include <map>
#include <string>
#include <vector>

#include "waypoint/tracing.h"

namespace ambit::waypoint {

// The resource the spans come from (OpenTelemetry semantic conventions).
struct TraceResource {
  std::string service_name;                  // service.name, e.g. "waypoint.default"
  std::string service_version;               // service.version (ambit's version)
  std::string namespace_name;                // k8s.namespace.name
  std::map<std::string, std::string> extra;  // further string attributes
};

std::string otlpJson(const std::vector<Span>& spans, const TraceResource& resource);

}  // namespace ambit::waypoint
