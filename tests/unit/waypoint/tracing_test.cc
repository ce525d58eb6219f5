// Trace context formats (W3C, B3 single and multi), propagation and Zipkin export to a
// collector the test runs.
#include "waypoint/tracing.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "common/async/spawn.h"

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
  injectTrace(r, ctx, span);
  EXPECT_EQ(r.count("b3"), 0u);
  auto back = extractTrace(r);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->trace_id, ctx.trace_id);
  EXPECT_EQ(back->parent_span_id, span);
  EXPECT_EQ(std::string(r["x-b3-parentspanid"]), "e457b5a2e4d86bd1");
  EXPECT_NE(newTrace().trace_id, newTrace().trace_id);
}

TEST(WaypointTracing, ExporterPostsZipkinV2JsonToTheCollector) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::string received;
  std::string target;
  spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        boost::beast::flat_buffer buffer;
        HttpRequest req;
        co_await http::async_read(socket, buffer, req, asio::use_awaitable);
        target = std::string(req.target());
        received = req.body();
        HttpResponse resp{http::status::accepted, 11};
        resp.prepare_payload();
        co_await http::async_write(socket, resp, asio::use_awaitable);
      },
      "fake Zipkin collector");
  ZipkinExporter exporter(io.get_executor(), acceptor.local_endpoint(), "waypoint.default", 20ms);
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.id = "1111111111111111";
  s.parent_id = "00f067aa0ba902b7";
  s.name = "my-app.default.svc.cluster.local/*";
  s.start = std::chrono::system_clock::now();
  s.duration = 1500us;
  s.tags = {{"http.status_code", "200"}};
  exporter.add(s);
  for (int i = 0; i < 100 && exporter.exported() == 0; ++i) io.run_for(20ms);
  EXPECT_EQ(exporter.exported(), 1u);
  EXPECT_EQ(target, "/api/v2/spans");
  auto spans = nlohmann::json::parse(received, nullptr, false);
  ASSERT_TRUE(spans.is_array()) << received;
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["traceId"], s.trace_id);
  EXPECT_EQ(spans[0]["id"], s.id);
  EXPECT_EQ(spans[0]["parentId"], s.parent_id);
  EXPECT_EQ(spans[0]["duration"], 1500);
  EXPECT_EQ(spans[0]["kind"], "SERVER");
  EXPECT_EQ(spans[0]["localEndpoint"]["serviceName"], "waypoint.default");
  EXPECT_EQ(spans[0]["tags"]["http.status_code"], "200");
}

}  // namespace
}  // namespace ambit::waypoint
