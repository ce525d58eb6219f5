// The OTLP/HTTP JSON encoding against the OTLP specification's JSON rules (hex ids, nanosecond
// times as decimal strings, enum numbers, KeyValue attributes, status).
#include "waypoint/otlp_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ambit::waypoint {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The attribute `key` of a KeyValue list, or null.
json attribute(const json& list, const std::string& key) {
  for (const auto& kv : list) {
    if (kv.value("key", "") == key) return kv["value"];
  }
  return nullptr;
}

Span serverSpan() {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.id = "a1b2c3d4e5f60718";
  s.parent_id = "00f067aa0ba902b7";
  s.name = "my-app.default.svc.cluster.local/*";
  s.kind = SpanKind::kServer;
  // 2026-12-04T22:05:42.123456Z
  s.start = std::chrono::system_clock::time_point(1796421942123456us);
  s.duration = 1500us;
  s.tags = {{"http.method", "GET"}, {"http.status_code", "200"}, {"component", "proxy"}};
  return s;
}

TEST(OtlpJson, OneResourceOneScopeWithTheWaypointsResourceAttributes) {
  TraceResource r{.service_name = "waypoint.default",
                  .service_version = "0.1.0",
                  .namespace_name = "default",
                  .extra = {{"host.name", "node1"}}};
  json body = json::parse(otlpJson({serverSpan(), serverSpan()}, r));
  ASSERT_EQ(body["resourceSpans"].size(), 1u) << body;
  const json& rs = body["resourceSpans"][0];
  const json& attrs = rs["resource"]["attributes"];
  EXPECT_EQ(attribute(attrs, "service.name"), json({{"stringValue", "waypoint.default"}}));
  EXPECT_EQ(attribute(attrs, "service.version"), json({{"stringValue", "0.1.0"}}));
  EXPECT_EQ(attribute(attrs, "k8s.namespace.name"), json({{"stringValue", "default"}}));
  EXPECT_EQ(attribute(attrs, "host.name"), json({{"stringValue", "node1"}}));
  ASSERT_EQ(rs["scopeSpans"].size(), 1u);
  EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "ambit-waypoint");
  EXPECT_EQ(rs["scopeSpans"][0]["spans"].size(), 2u);
}

TEST(OtlpJson, IdsAreHexTimesAreNanosecondStringsKindIsTheEnumNumber) {
  json span = json::parse(otlpJson(
      {serverSpan()}, {.service_name = "w"}))["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  // OTLP/JSON: trace and span ids are hex, not the base64 of the protobuf JSON mapping.
  EXPECT_EQ(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span["spanId"], "a1b2c3d4e5f60718");
  EXPECT_EQ(span["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(span["name"], "my-app.default.svc.cluster.local/*");
  // fixed64 as a decimal string; end = start + duration.
  ASSERT_TRUE(span["startTimeUnixNano"].is_string());
  EXPECT_EQ(span["startTimeUnixNano"], "1796421942123456000");
  EXPECT_EQ(span["endTimeUnixNano"], "1796421942124956000");
  EXPECT_EQ(span["kind"], 2);                      // SPAN_KIND_SERVER
  EXPECT_EQ(span["status"], json({{"code", 0}}));  // STATUS_CODE_UNSET
  EXPECT_EQ(attribute(span["attributes"], "http.method"), json({{"stringValue", "GET"}}));
  // Integer attributes: intValue, itself a decimal string (int64).
  EXPECT_EQ(attribute(span["attributes"], "http.status_code"), json({{"intValue", "200"}}));
}

TEST(OtlpJson, ClientSpanErrorStatusAndRemotePeer) {
  Span s = serverSpan();
  s.kind = SpanKind::kClient;
  s.error = true;
  s.status_message = "HTTP 503 UF";
  s.remote_ip = "10.244.2.11";
  s.remote_port = 8080;
  s.tags["http.status_code"] = "503";
  json span = json::parse(
      otlpJson({s}, {.service_name = "w"}))["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["kind"], 3);                                                  // SPAN_KIND_CLIENT
  EXPECT_EQ(span["status"], json({{"code", 2}, {"message", "HTTP 503 UF"}}));  // ERROR
  EXPECT_EQ(attribute(span["attributes"], "server.address"),
            json({{"stringValue", "10.244.2.11"}}));
  EXPECT_EQ(attribute(span["attributes"], "server.port"), json({{"intValue", "8080"}}));
}

TEST(OtlpJson, RootSpanHasNoParentAndAZeroDurationStillEndsAfterItStarts) {
  Span s = serverSpan();
  s.parent_id.clear();
  s.duration = 0us;
  s.tags["http.status_code"] = "not-a-number";
  json span = json::parse(
      otlpJson({s}, {.service_name = "w"}))["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_FALSE(span.contains("parentSpanId")) << span;
  EXPECT_EQ(span["endTimeUnixNano"], "1796421942123457000");
  // A value that is not an integer stays a string rather than becoming a wrong number.
  EXPECT_EQ(attribute(span["attributes"], "http.status_code"),
            json({{"stringValue", "not-a-number"}}));
}

TEST(OtlpJson, NoSpansIsStillAValidRequest) {
  json body = json::parse(otlpJson({}, {.service_name = "w"}));
  EXPECT_TRUE(body["resourceSpans"][0]["scopeSpans"][0]["spans"].is_array());
  EXPECT_TRUE(body["resourceSpans"][0]["scopeSpans"][0]["spans"].empty());
}

}  // namespace
}  // namespace ambit::waypoint
