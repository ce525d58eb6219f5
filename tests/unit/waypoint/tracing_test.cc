// Trace context formats (W3C, B3 single and multi), propagation, the Zipkin v2 encoding and
// export to a collector the test runs (Zipkin and OTLP/HTTP).
#include "waypoint/tracing.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "common/async/spawn.h"
#include "waypoint/span_exporter.h"

namespace ambit::waypoint {
namespace {

using namespace std::chrono_literals;

HttpRequest withHeaders(std::initializer_list<std::pair<const char*, const char*>> headers) {
  HttpRequest r{http::verb::get, "/", 11};
  for (const auto& [k, v] : headers) r.set(k, v);
  return r;
}

TEST(WaypointTracing, ReadsW3cThenB3SingleThenB3Multi) {
  auto w3c = extractTrace(
      withHeaders({{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                   {"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}}));
  ASSERT_TRUE(w3c);
  EXPECT_EQ(w3c->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(w3c->parent_span_id, "00f067aa0ba902b7");
  auto single =
      extractTrace(withHeaders({{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"}}));
  ASSERT_TRUE(single);
  EXPECT_EQ(single->parent_span_id, "e457b5a2e4d86bd1");
  EXPECT_FALSE(single->sampled);
  auto multi = extractTrace(withHeaders({{"X-B3-TraceId", "a3ce929d0e0e4736"},
                                         {"X-B3-SpanId", "00f067aa0ba902b7"},
                                         {"X-B3-Sampled", "1"}}));
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->trace_id, "0000000000000000a3ce929d0e0e4736");
  EXPECT_FALSE(extractTrace(withHeaders({{"traceparent", "00-zz-00f067aa0ba902b7-01"}})));
  EXPECT_FALSE(extractTrace(
      withHeaders({{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}})));
  EXPECT_FALSE(extractTrace(withHeaders({})));
}

TEST(WaypointTracing, InjectReplacesEveryFormWithOurSpan) {
  HttpRequest r = withHeaders({{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}});
  TraceContext ctx = *extractTrace(r);
  std::string span = newSpanId();
  injectTrace(r, ctx.trace_id, ctx.sampled, ctx.parent_span_id, span);
  EXPECT_EQ(r.count("b3"), 0u);
  auto back = extractTrace(r);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->trace_id, ctx.trace_id);
  EXPECT_EQ(back->parent_span_id, span);
  EXPECT_EQ(std::string(r["x-b3-parentspanid"]), "e457b5a2e4d86bd1");
  EXPECT_NE(newTrace().trace_id, newTrace().trace_id);
}

// Trace headers in any case and form are replaced by exactly one of each of ours (x-b3-flags
// dropped); a request with none gets ours; other headers are left alone.
TEST(WaypointTracing, InjectLeavesOneOfEachWhateverCameIn) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  HttpRequest carrying{http::verb::get, "/", 11};
  carrying.insert("TraceParent", "00-" + trace + "-00f067aa0ba902b7-01");
  carrying.insert("X-B3-SpanId", "00f067aa0ba902b7");
  carrying.insert("X-B3-SPANID", "1111111111111111");  // repeated, another case
  carrying.insert("X-B3-Flags", "1");
  carrying.insert("x-other", "kept");
  for (HttpRequest in : {carrying, withHeaders({{"x-other", "kept"}})}) {
    injectTrace(in, trace, true, "a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2");
    EXPECT_EQ(in.count("traceparent"), 1u);
    EXPECT_EQ(std::string(in["traceparent"]), "00-" + trace + "-b2b2b2b2b2b2b2b2-01");
    EXPECT_EQ(in.count("x-b3-spanid"), 1u);
    EXPECT_EQ(std::string(in["x-b3-spanid"]), "b2b2b2b2b2b2b2b2");
    EXPECT_EQ(std::string(in["x-b3-parentspanid"]), "a1a1a1a1a1a1a1a1");
    EXPECT_EQ(std::string(in["x-b3-traceid"]), trace);
    EXPECT_EQ(std::string(in["x-b3-sampled"]), "1");
    EXPECT_EQ(in.count("x-b3-flags"), 0u);
    EXPECT_EQ(std::string(in["x-other"]), "kept");
  }
  HttpRequest unsampled = withHeaders({});
  injectTrace(unsampled, trace, false, "", "b2b2b2b2b2b2b2b2");
  EXPECT_EQ(std::string(unsampled["traceparent"]), "00-" + trace + "-b2b2b2b2b2b2b2b2-00");
  EXPECT_EQ(unsampled.count("x-b3-parentspanid"), 0u);
  EXPECT_EQ(std::string(unsampled["x-b3-sampled"]), "0");
  // Ids longer than a traceparent's own (not from extractTrace) are written whole all the same.
  const std::string long_trace(100, 'c');
  HttpRequest long_ids = withHeaders({});
  injectTrace(long_ids, long_trace, true, "", "d4d4d4d4d4d4d4d4");
  EXPECT_EQ(std::string(long_ids["traceparent"]), "00-" + long_trace + "-d4d4d4d4d4d4d4d4-01");
}

// Accepts one POST on `acceptor`, answers 202 and keeps its target and body.
struct FakeCollector {
  std::string target;
  std::string content_type;
  std::string body;
};

void serveOnce(asio::io_context& io, asio::ip::tcp::acceptor& acceptor, FakeCollector& got) {
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        boost::beast::flat_buffer buffer;
        HttpRequest req;
        co_await http::async_read(socket, buffer, req, asio::use_awaitable);
        got.target = std::string(req.target());
        got.content_type = std::string(req[http::field::content_type]);
        got.body = req.body();
        HttpResponse resp{http::status::accepted, 11};
        resp.prepare_payload();
        co_await http::async_write(socket, resp, asio::use_awaitable);
      },
      "fake collector");
}

Span sampleSpan() {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.id = "1111111111111111";
  s.parent_id = "00f067aa0ba902b7";
  s.name = "my-app.default.svc.cluster.local/*";
  s.start = std::chrono::system_clock::now();
  s.duration = 1500us;
  s.tags = {{"http.status_code", "200"}};
  return s;
}

TEST(WaypointTracing, ExporterPostsZipkinV2JsonToTheCollector) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  FakeCollector got;
  serveOnce(io, acceptor, got);
  auto collector = zipkinCollector("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
  ASSERT_TRUE(collector) << collector.error().message;
  SpanExporter exporter(io.get_executor(), *collector, {.service_name = "waypoint.default"}, 20ms);
  const Span s = sampleSpan();
  exporter.add(s);
  for (int i = 0; i < 100 && exporter.exported() == 0; ++i) io.run_for(20ms);
  EXPECT_EQ(exporter.exported(), 1u);
  EXPECT_EQ(got.target, "/api/v2/spans");
  auto spans = nlohmann::json::parse(got.body, nullptr, false);
  ASSERT_TRUE(spans.is_array()) << got.body;
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["traceId"], s.trace_id);
  EXPECT_EQ(spans[0]["id"], s.id);
  EXPECT_EQ(spans[0]["parentId"], s.parent_id);
  EXPECT_EQ(spans[0]["duration"], 1500);
  EXPECT_EQ(spans[0]["kind"], "SERVER");
  EXPECT_EQ(spans[0]["localEndpoint"]["serviceName"], "waypoint.default");
  EXPECT_EQ(spans[0]["tags"]["http.status_code"], "200");
}

TEST(WaypointTracing, ExporterPostsOtlpJsonToTheEndpointPath) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  FakeCollector got;
  serveOnce(io, acceptor, got);
  auto collector = otlpCollector(
      "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/v1/traces");
  ASSERT_TRUE(collector) << collector.error().message;
  SpanExporter exporter(io.get_executor(), *collector, {.service_name = "waypoint.default"}, 20ms);
  exporter.add(sampleSpan());
  for (int i = 0; i < 100 && exporter.exported() == 0; ++i) io.run_for(20ms);
  EXPECT_EQ(exporter.exported(), 1u);
  EXPECT_EQ(got.target, "/v1/traces");
  EXPECT_EQ(got.content_type, "application/json");
  auto body = nlohmann::json::parse(got.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << got.body;
  EXPECT_EQ(body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"], "1111111111111111");
}

TEST(WaypointTracing, ExporterCountsABatchTheCollectorRefusedAsDropped) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();  // nothing listens: connection refused
  auto collector = zipkinCollector("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(collector);
  SpanExporter exporter(io.get_executor(), *collector, {.service_name = "w"}, 20ms);
  exporter.add(sampleSpan());
  for (int i = 0; i < 100 && exporter.dropped() == 0; ++i) io.run_for(20ms);
  EXPECT_EQ(exporter.dropped(), 1u);
  EXPECT_EQ(exporter.exported(), 0u);
}

TEST(WaypointTracing, ZipkinClientSpanCarriesTheRemoteEndpointAndErrors) {
  Span s = sampleSpan();
  s.kind = SpanKind::kClient;
  s.remote_ip = "10.244.2.11";
  s.remote_port = 8080;
  s.error = true;
  s.status_message = "HTTP 503 UF";
  auto spans = nlohmann::json::parse(zipkinJson({s}, "waypoint.default"));
  EXPECT_EQ(spans[0]["kind"], "CLIENT");
  EXPECT_EQ(spans[0]["remoteEndpoint"]["ipv4"], "10.244.2.11");
  EXPECT_EQ(spans[0]["remoteEndpoint"]["port"], 8080);
  EXPECT_EQ(spans[0]["tags"]["error"], "HTTP 503 UF");
  s.remote_ip = "fd00:10:244:2::11";
  spans = nlohmann::json::parse(zipkinJson({s}, "waypoint.default"));
  EXPECT_EQ(spans[0]["remoteEndpoint"]["ipv6"], "fd00:10:244:2::11");
  s.parent_id.clear();
  spans = nlohmann::json::parse(zipkinJson({s}, "waypoint.default"));
  EXPECT_FALSE(spans[0].contains("parentId"));
}

TEST(WaypointTracing, CollectorAddressesParseOrSayWhatIsWrong) {
  auto z = zipkinCollector("10.0.0.1:9411");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->host, "10.0.0.1");
  EXPECT_EQ(z->port, 9411);
  EXPECT_EQ(z->path, "/api/v2/spans");
  EXPECT_FALSE(zipkinCollector("10.0.0.1"));
  EXPECT_FALSE(zipkinCollector("10.0.0.1:99999"));

  auto o = otlpCollector("http://jaeger.observability:4318/v1/traces");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->format, SpanFormat::kOtlpJson);
  EXPECT_EQ(o->host, "jaeger.observability");
  EXPECT_EQ(o->port, 4318);
  EXPECT_EQ(o->path, "/v1/traces");
  auto v6 = otlpCollector("http://[fd00::1]:4318");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->host, "fd00::1");
  EXPECT_EQ(v6->path, "/v1/traces");
  auto no_port = otlpCollector("http://collector/otlp/v1/traces");
  ASSERT_TRUE(no_port);
  EXPECT_EQ(no_port->port, 80);
  EXPECT_EQ(no_port->path, "/otlp/v1/traces");
  auto tls = otlpCollector("https://collector:4318/v1/traces");
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().message.find("https is not supported"), std::string::npos);
  EXPECT_FALSE(otlpCollector("collector:4318"));
  EXPECT_FALSE(otlpCollector("http://collector:0/v1/traces"));
  EXPECT_FALSE(otlpCollector("http://[fd00::1/v1/traces"));
  EXPECT_FALSE(otlpCollector("http://:4318/v1/traces"));
}

}  // namespace
}  // namespace ambit::waypoint
