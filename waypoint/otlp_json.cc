#include "waypoint/otlp_json.h"

#include <nlohmann/json.hpp>
#include <set>

namespace ambit::waypoint {
namespace {

using nlohmann::json;

constexpr int kSpanKindServer = 2;
constexpr int kSpanKindClient = 3;
constexpr int kStatusUnset = 0;
constexpr int kStatusError = 2;

bool isIntegerAttribute(const std::string& key) {
  static const std::set<std::string> keys{"http.status_code", "http.response.status_code",
                                          "server.port"};
  return keys.count(key) > 0;
}

bool allDigits(const std::string& v) {
  return !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
}

json keyValue(const std::string& key, const std::string& value) {
  if (isIntegerAttribute(key) && allDigits(value)) {
    return {{"key", key}, {"value", {{"intValue", value}}}};
  }
  return {{"key", key}, {"value", {{"stringValue", value}}}};
}

std::string unixNanos(std::chrono::system_clock::time_point t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

json spanJson(const Span& s) {
  json attributes = json::array();
  for (const auto& [k, v] : s.tags) attributes.push_back(keyValue(k, v));
  if (!s.remote_ip.empty()) {
    attributes.push_back(keyValue("server.address", s.remote_ip));
    attributes.push_back(keyValue("server.port", std::to_string(s.remote_port)));
  }
  const auto duration = std::max(s.duration, std::chrono::microseconds(1));
  json j{{"traceId", s.trace_id},
         {"spanId", s.id},
         {"name", s.name},
         {"kind", s.kind == SpanKind::kClient ? kSpanKindClient : kSpanKindServer},
         {"startTimeUnixNano", unixNanos(s.start)},
         {"endTimeUnixNano",
          unixNanos(s.start +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(duration))},
         {"attributes", std::move(attributes)}};
  if (!s.parent_id.empty()) j["parentSpanId"] = s.parent_id;
  j["status"] = s.error ? json{{"code", kStatusError}, {"message", s.status_message}}
                        : json{{"code", kStatusUnset}};
  return j;
}

}  // namespace

std::string otlpJson(const std::vector<Span>& spans, const TraceResource& resource) {
  json attributes = json::array({keyValue("service.name", resource.service_name)});
  if (!resource.service_version.empty()) {
    attributes.push_back(keyValue("service.version", resource.service_version));
  }
  if (!resource.namespace_name.empty()) {
    attributes.push_back(keyValue("k8s.namespace.name", resource.namespace_name));
  }
  for (const auto& [k, v] : resource.extra) attributes.push_back(keyValue(k, v));
  json out_spans = json::array();
  for (const auto& s : spans) out_spans.push_back(spanJson(s));
  json scope{{"name", "ambit-waypoint"}};
  if (!resource.service_version.empty()) scope["version"] = resource.service_version;
  json body{{"resourceSpans",
             json::array({{{"resource", {{"attributes", std::move(attributes)}}},
                           {"scopeSpans", json::array({{{"scope", std::move(scope)},
                                                        {"spans", std::move(out_spans)}}})}}})}};
  return body.dump();
}

}  // namespace ambit::waypoint
