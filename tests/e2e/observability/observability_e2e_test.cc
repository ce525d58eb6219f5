// End-to-end observability: `ambitctl lab up --waypoint` with the waypoint exporting spans over
// Zipkin v2 and OTLP/HTTP to two Jaeger all-in-one instances in its pod, real traffic (HTTP
// through the waypoint, plain L4 between pods), and Debian's Prometheus scraping every agent,
// ztunnel and the waypoint. Then:
//   - every panel query of deploy/grafana/*.json, with its template variables set to the values
//     Prometheus has for them, returns data;
//   - every Kiali query listed in docs/observability.md (graph, workload and mTLS views)
//     returns data, and those listed as empty in a one-namespace lab evaluate without error;
//   - a request carrying a W3C traceparent appears in each Jaeger as the caller's span ->
//     the waypoint's SERVER span -> its CLIENT span, whose id the app saw as its parent.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/e2e/observability/collectors.h"
#include "tests/support/grafana.h"
#include "tests/support/requirements.h"
#include "tests/support/wait.h"
#include "tests/support/waypoint_lab.h"

namespace ambit::e2e {
namespace {

using nlohmann::json;
using test::CommandOutput;

constexpr uint16_t kPrometheusPort = 19090;
constexpr uint16_t kRelayPort = 15031;  // node2: the agent's loopback-only /metrics, relayed
constexpr JaegerPorts kZipkinJaeger{.zipkin = 9411,
                                    .otlp_http = 14318,
                                    .otlp_grpc = 14317,
                                    .query_http = 16686,
                                    .query_grpc = 16685,
                                    .admin = 14269,
                                    .collector_http = 14268,
                                    .collector_grpc = 14250};
constexpr JaegerPorts kOtlpJaeger{.zipkin = 0,
                                  .otlp_http = 4318,
                                  .otlp_grpc = 4317,
                                  .query_http = 16687,
                                  .query_grpc = 16695,
                                  .admin = 14279,
                                  .collector_http = 14278,
                                  .collector_grpc = 14260};

std::string randomHex(size_t digits) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string out;
  while (out.size() < digits) out += fmt::format("{:016x}", rng());
  return out.substr(0, digits);
}

// The PromQL lines of the block between <!-- marker:begin --> and <!-- marker:end --> of
// docs/observability.md ('#' lines are titles, kept as the query's name).
std::vector<std::pair<std::string, std::string>> documentedQueries(const std::string& marker) {
  std::ifstream in(std::string(AMBIT_SOURCE_DIR) + "/docs/observability.md");
  std::vector<std::pair<std::string, std::string>> out;
  std::string line, title;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "<!-- " + marker + ":begin -->") inside = true;
    if (line == "<!-- " + marker + ":end -->") break;
    if (!inside || line.empty() || line.starts_with("<!--") || line.starts_with("```")) continue;
    if (line.starts_with("# ")) {
      title = line.substr(2);
    } else {
      out.emplace_back(title, line);
    }
  }
  return out;
}

class ObservabilityE2eTest : public test::WaypointLabTest {
 public:
  static void SetUpTestSuite() {
    if (!test::runningAsRoot()) return;
    jaeger_binary_ = LabJaeger::binary(jaeger_missing_);
    upLab("obs", {"--waypoint-arg=--zipkin-address=127.0.0.1:9411",
                  "--waypoint-arg=--otlp-endpoint=http://127.0.0.1:4318/v1/traces"});
    if (jaeger_binary_) {
      const std::string netns = "/run/netns/" + lab_->name() + "-pod-waypoint";
      const std::string logs = lab_->runDir() + "/logs/";
      zipkin_jaeger_ = std::make_unique<LabJaeger>();
      otlp_jaeger_ = std::make_unique<LabJaeger>();
      jaeger_started_ =
          zipkin_jaeger_->start(*jaeger_binary_, netns, kZipkinJaeger, logs + "jaeger-zipkin.log");
      if (jaeger_started_) {
        jaeger_started_ =
            otlp_jaeger_->start(*jaeger_binary_, netns, kOtlpJaeger, logs + "jaeger-otlp.log");
      }
    }
  }
  static void TearDownTestSuite() {
    zipkin_jaeger_.reset();
    otlp_jaeger_.reset();
    WaypointLabTest::TearDownTestSuite();
  }

 protected:
  std::string netns(const std::string& node) { return "/run/netns/" + lab_->name() + "-" + node; }

  // Starts `script` in `pod` in the background (its own process, stopped with the object).
  test::Subprocess inPod(const std::string& pod, const std::string& script) {
    test::Subprocess p;
    test::Command c;
    c.argv = {test::binary("ambitctl"),
              "lab",
              "exec",
              "--name",
              lab_->name(),
              pod,
              "--",
              "sh",
              "-c",
              script};
    EXPECT_TRUE(p.start(c));
    return p;
  }

  // HTTP through the waypoint (client -> my-app) and L4 only (my-app-v1 -> Service client),
  // for `seconds`, so that every rate over a minute has several samples.
  void driveTraffic(int seconds) {
    auto loop = [seconds](const std::string& host) {
      return fmt::format(
          "end=$(($(date +%s) + {})); while [ $(date +%s) -lt $end ]; do "
          "curl -s -o /dev/null -m 2 http://{}/; sleep 0.1; done",
          seconds, host);
    };
    test::Subprocess http = inPod("client", loop("10.96.0.10"));
    test::Subprocess tcp = inPod("my-app-v1", loop("10.96.0.11"));
    const auto limit = std::chrono::seconds(seconds + 30);
    EXPECT_EQ(http.waitExit(limit), 0);
    EXPECT_EQ(tcp.waitExit(limit), 0);
  }

  static inline std::optional<std::string> jaeger_binary_;
  static inline std::string jaeger_missing_;
  static inline Status jaeger_started_ = Status::ok();
  static inline std::unique_ptr<LabJaeger> zipkin_jaeger_;
  static inline std::unique_ptr<LabJaeger> otlp_jaeger_;
};

// Every combination of the dashboard's variables with the values Prometheus has for them.
std::vector<std::map<std::string, std::string>> variableAssignments(const test::Dashboard& d,
                                                                    LabPrometheus& prometheus) {
  std::vector<std::map<std::string, std::string>> out{{}};
  for (const auto& v : d.variables) {
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& assigned : out) {
      const std::string selector = test::substituteVariables(v.selector, assigned, "1m");
      auto r = prometheus.query(fmt::format("group by ({}) ({})", v.label, selector));
      EXPECT_TRUE(r) << d.file << " variable " << v.name << ": " << r.error().message;
      if (!r) continue;
      for (const auto& s : *r) {
        auto a = assigned;
        a[v.name] = s["metric"].value(v.label, "");
        next.push_back(std::move(a));
      }
    }
    EXPECT_FALSE(next.empty()) << d.file << ": variable " << v.name << " has no value";
    out = std::move(next);
  }
  return out;
}

TEST_F(ObservabilityE2eTest, EveryDashboardPanelAndKialiQueryReturnsDataFromARealPrometheus) {
  AMBIT_REQUIRE(test::missingProgram("/usr/bin/prometheus", "prometheus"));
  // node2's agent serves /metrics on its loopback only: relay it onto node2's underlay address.
  test::Subprocess relay;
  test::Command rc;
  rc.netns = netns("node2");
  rc.argv = {"python3",     std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/observability/tcp_relay.py",
             "172.30.0.12", std::to_string(kRelayPort),
             "127.0.0.1",   "15030"};
  ASSERT_TRUE(relay.start(rc));
  LabPrometheus prometheus;
  const std::string waypoint = lab_->podIp("waypoint");
  Status started = prometheus.start(
      netns("node1"), kPrometheusPort,
      {{"ambit-ztunnel", {"127.0.0.1:15020", "172.30.0.12:15020"}},
       {"ambit-agent", {"127.0.0.1:15030", fmt::format("172.30.0.12:{}", kRelayPort)}},
       {"ambit-waypoint", {waypoint + ":15020"}}});
  ASSERT_TRUE(started) << started.message();
  std::string why;
  ASSERT_TRUE(prometheus.waitTargetsUp(std::chrono::seconds(30), why)) << why;

  driveTraffic(15);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the last scrapes

  size_t evaluated = 0;
  for (const auto& file : test::dashboardFiles()) {
    auto d = test::loadDashboard(file);
    ASSERT_TRUE(d) << d.error().message;
    const auto assignments = variableAssignments(*d, prometheus);
    for (const auto& q : d->queries) {
      std::string last_error;
      bool has_data = false;
      for (const auto& a : assignments) {
        auto r = prometheus.query(test::substituteVariables(q.expr, a, "1m"));
        if (!r) last_error = r.error().message;
        if (r && !r->empty()) {
          has_data = true;
          break;
        }
      }
      ++evaluated;
      EXPECT_TRUE(has_data) << file.filename() << " panel " << q.panel_id << " '" << q.panel_title
                            << "' " << q.ref_id << " returned no data for any of "
                            << assignments.size() << " variable assignments: " << q.expr << " "
                            << last_error;
    }
  }
  EXPECT_GE(evaluated, 40u);

  const auto kiali = documentedQueries("kiali-queries");
  EXPECT_GE(kiali.size(), 20u) << "docs/observability.md lost its Kiali query list";
  for (const auto& [title, query] : kiali) {
    auto r = prometheus.query(query);
    ASSERT_TRUE(r) << title << ": " << r.error().message;
    EXPECT_FALSE(r->empty()) << "Kiali " << title << " returned no data: " << query;
  }
  const auto empty_here = documentedQueries("kiali-queries-empty-in-lab");
  EXPECT_GE(empty_here.size(), 5u);
  for (const auto& [title, query] : empty_here) {
    auto r = prometheus.query(query);
    EXPECT_TRUE(r) << title << ": " << r.error().message;
  }
}

// The span of `trace` with id `span_id`, or null.
json spanById(const json& trace, const std::string& span_id) {
  for (const auto& s : trace["spans"]) {
    if (s.value("spanID", "") == span_id) return s;
  }
  return nullptr;
}

std::string tag(const json& span, const std::string& key) {
  for (const auto& t : span["tags"]) {
    if (t.value("key", "") == key)
      return t["value"].is_string() ? t["value"].get<std::string>() : t["value"].dump();
  }
  return "";
}

std::string serviceOf(const json& trace, const json& span) {
  return trace["processes"][span.value("processID", "")].value("serviceName", "");
}

// The one CHILD_OF reference of `span` (its parent span id), or "".
std::string parentOf(const json& span) {
  for (const auto& r : span.value("references", json::array())) {
    if (r.value("refType", "") == "CHILD_OF") return r.value("spanID", "");
  }
  return "";
}

TEST_F(ObservabilityE2eTest, ATracedRequestReadsBackFromJaegerOverZipkinAndOtlpWithItsParents) {
  AMBIT_REQUIRE(jaeger_binary_ ? std::nullopt : std::optional<std::string>(jaeger_missing_));
  ASSERT_TRUE(jaeger_started_) << jaeger_started_.message();
  const std::string trace_id = randomHex(32);
  const std::string caller = randomHex(16);
  // The caller's own span, as an instrumented client would report it, to each Jaeger in the
  // receiver's format.
  const auto start = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  json zipkin = json::array({{{"traceId", trace_id},
                              {"id", caller},
                              {"name", "GET /traced"},
                              {"kind", "CLIENT"},
                              {"timestamp", start},
                              {"duration", 50000},
                              {"localEndpoint", {{"serviceName", "client"}}}}});
  ASSERT_TRUE(zipkin_jaeger_->postZipkin(zipkin.dump()));
  json otlp = {
      {"resourceSpans",
       {{{"resource",
          {{"attributes", {{{"key", "service.name"}, {"value", {{"stringValue", "client"}}}}}}}},
         {"scopeSpans",
          {{{"spans",
             {{{"traceId", trace_id},
               {"spanId", caller},
               {"name", "GET /traced"},
               {"kind", 3},
               {"startTimeUnixNano", std::to_string(start * 1000)},
               {"endTimeUnixNano", std::to_string((start + 50000) * 1000)}}}}}}}}}}};
  ASSERT_TRUE(otlp_jaeger_->postOtlp(otlp.dump()));

  CommandOutput out = lab_->exec(
      "client", {"curl", "-s", "-m", "5", "-H",
                 "traceparent: 00-" + trace_id + "-" + caller + "-01", "http://10.96.0.10/traced"});
  json app = json::parse(out.out, nullptr, false);
  ASSERT_TRUE(app.is_object()) << out.out << out.err;
  const std::string seen = app["headers"].value("traceparent", "");
  ASSERT_EQ(seen.size(), 55u) << app;
  ASSERT_EQ(seen.substr(3, 32), trace_id);
  const std::string app_parent = seen.substr(36, 16);

  for (auto* jaeger : {zipkin_jaeger_.get(), otlp_jaeger_.get()}) {
    const std::string via = jaeger == zipkin_jaeger_.get() ? "Zipkin" : "OTLP";
    json trace;
    ASSERT_TRUE(test::eventually(
        [&] {
          trace = jaeger->trace(trace_id);
          return !trace.is_null() && trace["spans"].size() >= 3;
        },
        std::chrono::seconds(20)))
        << via << ": trace not complete: " << trace.dump() << "\n"
        << waypointLog();
    EXPECT_EQ(trace["spans"].size(), 3u) << via << ": " << trace.dump();
    const json client = spanById(trace, caller);
    const json upstream = spanById(trace, app_parent);
    ASSERT_FALSE(client.is_null()) << via;
    ASSERT_FALSE(upstream.is_null()) << via << ": no span " << app_parent << ": " << trace.dump();
    const std::string server_id = parentOf(upstream);
    const json server = spanById(trace, server_id);
    ASSERT_FALSE(server.is_null()) << via << ": the CLIENT span's parent " << server_id
                                   << " is not in the trace: " << trace.dump();
    // client -> waypoint SERVER -> waypoint CLIENT -> (the app)
    EXPECT_EQ(parentOf(client), "") << via;
    EXPECT_EQ(parentOf(server), caller) << via;
    EXPECT_EQ(serviceOf(trace, client), "client") << via;
    EXPECT_EQ(serviceOf(trace, server), "waypoint.default") << via;
    EXPECT_EQ(serviceOf(trace, upstream), "waypoint.default") << via;
    EXPECT_EQ(tag(server, "span.kind"), "server") << via << ": " << server.dump();
    EXPECT_EQ(tag(upstream, "span.kind"), "client") << via << ": " << upstream.dump();
    EXPECT_EQ(server.value("operationName", ""), "my-app.default.svc.cluster.local/*") << via;
    EXPECT_EQ(tag(server, "http.status_code"), "200") << via;
    EXPECT_EQ(tag(server, "http.method"), "GET") << via;
    EXPECT_EQ(tag(server, "http.url"), "/traced") << via;
    EXPECT_EQ(tag(upstream, "http.status_code"), "200") << via;
    EXPECT_NE(tag(upstream, "upstream_cluster").find(":8080"), std::string::npos) << via;
    EXPECT_LE(server.value("startTime", 0), upstream.value("startTime", 0)) << via;
    EXPECT_GE(server.value("duration", 0), upstream.value("duration", 0)) << via;
  }
  // The OTLP resource attributes arrive as the process's tags.
  json otlp_trace = otlp_jaeger_->trace(trace_id);
  const json server = spanById(otlp_trace, parentOf(spanById(otlp_trace, app_parent)));
  bool has_namespace = false;
  for (const auto& t : otlp_trace["processes"][server.value("processID", "")]["tags"]) {
    has_namespace |=
        t.value("key", "") == "k8s.namespace.name" && t.value("value", "") == "default";
  }
  EXPECT_TRUE(has_namespace) << otlp_trace["processes"].dump();
}

}  // namespace
}  // namespace ambit::e2e
