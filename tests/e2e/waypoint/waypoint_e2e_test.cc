// End-to-end: the lab with a waypoint (`ambitctl lab up --waypoint`). The unchanged client
// calls Service my-app (10.96.0.10:80); its ztunnel tunnels to the waypoint pod, which routes
// each HTTP request by the VirtualService / DestinationRule in the config directory, applies
// L7 AuthorizationPolicies and forwards over HBONE to my-app-v1 (node1) or my-app-v2 (node2).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/netns.h"
#include "tests/support/observability.h"
#include "tests/support/prometheus.h"
#include "tests/support/requirements.h"
#include "tests/support/test_data.h"
#include "tests/support/text.h"
#include "tests/support/wait.h"
#include "tests/support/waypoint_lab.h"

namespace ambit::e2e {
namespace {

using test::CommandOutput;
using test::eventually;
using test::occurrences;
using test::seedVirtualService;

const std::string kRoutesFile = "50-waypoint-test.yaml";
const std::string kSplitScript =
    std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/waypoint/http_split.py";
const std::string kRawScript = std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/waypoint/raw_http.py";
constexpr uint16_t kZipkinPort = 19411;  // the collector, inside the waypoint pod

// A Zipkin collector the test runs inside a pod's netns on 127.0.0.1:kZipkinPort: answers
// every POST /api/v2/spans with 202 and keeps the spans it carried.
class ZipkinCollector {
 public:
  explicit ZipkinCollector(const std::string& netns) {
    namespace asio = boost::asio;
    auto ns = openNetns("/run/netns/" + netns);
    if (!ns) {
      ADD_FAILURE() << ns.error().message;
      return;
    }
    // The listening socket is created inside the pod's netns and stays bound to it.
    Status bound = inNetns(ns->get(), [&]() -> Status {
      boost::system::error_code ec;
      asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), kZipkinPort);
      acceptor_.open(ep.protocol(), ec);
      if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor_.bind(ep, ec);
      if (!ec) acceptor_.listen(16, ec);
      if (ec) return makeError("collector listen: {}", ec.message());
      return Status::ok();
    });
    if (!bound) {
      ADD_FAILURE() << bound.error().message;
      return;
    }
    acceptNext();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ZipkinCollector() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  nlohmann::json spans() const {
    std::lock_guard lock(mu_);
    return spans_;
  }

 private:
  struct Connection {
    explicit Connection(boost::asio::ip::tcp::socket s) : sock(std::move(s)) {}
    boost::asio::ip::tcp::socket sock;
    boost::beast::flat_buffer buf;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;
  };

  void acceptNext() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      readNext(std::make_shared<Connection>(std::move(s)));
      acceptNext();
    });
  }

  // One POST per exchange; the exporter may keep the connection alive.
  void readNext(const std::shared_ptr<Connection>& c) {
    namespace http = boost::beast::http;
    c->req = {};
    http::async_read(c->sock, c->buf, c->req, [this, c](boost::system::error_code ec, size_t) {
      if (ec) return;
      auto batch = nlohmann::json::parse(c->req.body(), nullptr, false);
      {
        std::lock_guard lock(mu_);
        if (batch.is_array()) {
          for (auto& span : batch) spans_.push_back(span);
        }
      }
      c->res = {http::status::accepted, c->req.version()};
      c->res.keep_alive(c->req.keep_alive());
      c->res.prepare_payload();
      http::async_write(c->sock, c->res, [this, c](boost::system::error_code wec, size_t) {
        if (!wec && c->req.keep_alive()) readNext(c);
      });
    });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
  mutable std::mutex mu_;
  nlohmann::json spans_ = nlohmann::json::array();
};

class WaypointE2eTest : public test::WaypointLabTest {
 public:
  static void SetUpTestSuite() {
    upLab("wpe2e", {"--waypoint-arg=--zipkin-address=127.0.0.1:" + std::to_string(kZipkinPort)});
  }

 protected:
  void TearDown() override {
    if (lab_ != nullptr && test::runningAsRoot()) applyConfig("", 0, 0);
  }

  // Writes (or, for empty yaml, removes) the test's config file and waits until the waypoint
  // loaded the new config, with that many route tables and authorization policies.
  static void applyConfig(const std::string& yaml, int route_tables, int policies) {
    applyWaypointConfig(kRoutesFile, yaml,
                        std::to_string(route_tables) + " route tables, " +
                            std::to_string(policies) + " authorization policies");
  }

  // http_split.py from the client pod: `count` GETs on one keep-alive connection.
  static nlohmann::json split(int count, const std::string& path = "/",
                              const std::vector<std::string>& headers = {}) {
    std::vector<std::string> argv{"/usr/bin/python3",   kSplitScript, "10.96.0.10", "80", path,
                                  std::to_string(count)};
    argv.insert(argv.end(), headers.begin(), headers.end());
    CommandOutput out = lab_->exec("client", argv, std::chrono::seconds(120));
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return nlohmann::json::parse(out.out, nullptr, false);
  }

  static CommandOutput curl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"curl", "-s", "-m", "5", "--path-as-is"};
    argv.insert(argv.end(), args.begin(), args.end());
    return lab_->exec("client", argv);
  }

  // Raw bytes (a Python string literal) to the VIP from the client pod; what came back.
  static std::string raw(const std::string& literal) {
    CommandOutput out =
        lab_->exec("client", {"/usr/bin/python3", kRawScript, "10.96.0.10", "80", literal});
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return out.out;
  }
};

TEST_F(WaypointE2eTest, SeedVirtualServiceSplits2000RequestsEightyTwenty) {
  applyConfig(seedVirtualService(), 1, 0);
  nlohmann::json r = split(2000);
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r["errors"], 0) << r;
  EXPECT_EQ(r["statuses"]["200"], 2000) << r;
  int v1 = r["versions"].value("v1", 0);
  int v2 = r["versions"].value("v2", 0);
  RecordProperty("v1", v1);
  RecordProperty("v2", v2);
  std::cout << "split of 2000: v1=" << v1 << " v2=" << v2 << "\n";
  EXPECT_GE(v1, 1540) << r;  // 80% +- 3% of 2000
  EXPECT_LE(v1, 1660) << r;
  EXPECT_GE(v2, 340) << r;  // 20% +- 3%
  EXPECT_LE(v2, 460) << r;
}

// The waypoint runs itself again first with glibc's larger per-thread malloc cache
// (common/malloc_tunables.h): same PID, and still named ambit-waypoint.
TEST_F(WaypointE2eTest, RunsWithTheLargerMallocCacheUnderItsOwnName) {
  const nlohmann::json status = lab_->status();
  int pid = 0;
  for (const auto& p : status["pods"]) {
    if (p.value("name", "") == "waypoint") pid = p.value("pid", 0);
  }
  ASSERT_GT(pid, 0) << status.dump();
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "ambit-waypoint");
  std::ifstream environ("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> tunables;  // the entries of GLIBC_TUNABLES
  for (std::string var; std::getline(environ, var, '\0');) {
    if (!var.starts_with("GLIBC_TUNABLES=")) continue;
    std::istringstream entries(var.substr(var.find('=') + 1));
    for (std::string entry; std::getline(entries, entry, ':');) tunables.push_back(entry);
  }
  EXPECT_NE(std::find(tunables.begin(), tunables.end(), "glibc.malloc.tcache_count=32"),
            tunables.end())
      << tunables.size() << " tunables";
}

TEST_F(WaypointE2eTest, HeaderMatchBeforeWeightsRoutesToV2) {
  applyConfig(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - route:
    - {destination: {host: my-app, subset: v1}, weight: 80}
    - {destination: {host: my-app, subset: v2}, weight: 20}
)",
              1, 0);
  nlohmann::json canary = split(200, "/", {"x-canary:yes"});
  EXPECT_EQ(canary["versions"].value("v2", 0), 200) << canary;
  nlohmann::json plain = split(200);
  EXPECT_GT(plain["versions"].value("v1", 0), 100) << plain;
}

TEST_F(WaypointE2eTest, DenyPolicyOnAPathGives403) {
  applyConfig(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
)",
              0, 1);
  for (const std::string path :
       {"/admin", "/admin/users", "/public/../admin", "//admin", "/%61dmin", "/admin;x=1"}) {
    CommandOutput out = curl({"-w", "\n%{http_code}", "http://10.96.0.10" + path});
    EXPECT_EQ(out.out, "RBAC: access denied\n403") << path;
  }
  CommandOutput ok = curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/public"});
  EXPECT_EQ(ok.out, "200");
  // The access log says who denied what: the request, the decision and the policy.
  EXPECT_TRUE(eventually([&] {
    return !test::matchingAccessRecords(waypointLog(), {{"path", "/%61dmin"},
                                                        {"response_code", "403"},
                                                        {"authz", "deny"},
                                                        {"policy", "default/deny-admin"}})
                .empty();
  })) << waypointLog();
}

TEST_F(WaypointE2eTest, BlueGreenFlipByEditingTheYamlTakesEffectWithoutRestart) {
  applyConfig(seedVirtualService(), 1, 0);
  std::string flipped = seedVirtualService();
  flipped.replace(flipped.find("weight: 80"), 10, "weight: 0");
  flipped.replace(flipped.find("weight: 20"), 10, "weight: 100");
  applyConfig(flipped, 1, 0);
  nlohmann::json r = split(200);
  EXPECT_EQ(r["versions"].value("v2", 0), 200) << r;
}

TEST_F(WaypointE2eTest, RetriesRecoverFromAnEveryOtherRequestFailure) {
  applyConfig(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {prefix: /flaky}, queryParams: {retry: {exact: "no"}}}]
    route: [{destination: {host: my-app, subset: v1}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /flaky}}]
    route: [{destination: {host: my-app, subset: v1}}]
    retries: {attempts: 2, retryOn: 5xx}
  - match: [{uri: {prefix: /delay}}]
    route: [{destination: {host: my-app, subset: v1}}]
    timeout: 200ms
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: my-app, subset: v1}}]
  - route: [{destination: {host: my-app, subset: v2}}]
)",
              1, 0);
  nlohmann::json r = split(40, "/flaky");
  EXPECT_EQ(r["statuses"].value("200", 0), 40) << r;
  CommandOutput slow =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/delay/2000"});
  EXPECT_EQ(slow.out, "504");
  CommandOutput fast =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/delay/10"});
  EXPECT_EQ(fast.out, "200");
  CommandOutput teapot =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/teapot"});
  EXPECT_EQ(teapot.out, "418");
  // Without retries the same backend does fail every other request: the retries did the work.
  nlohmann::json bare = split(40, "/flaky?retry=no");
  EXPECT_GE(bare["statuses"].value("503", 0), 19) << bare;
}

TEST_F(WaypointE2eTest, ReportsIstioRequestMetrics) {
  nlohmann::json r = split(20);
  EXPECT_EQ(r["statuses"]["200"], 20) << r;
  CommandOutput m =
      lab_->exec("waypoint", {"curl", "-s", "-m", "5", "http://127.0.0.1:15020/metrics"});
  ASSERT_EQ(m.exit_code, 0);
  for (const std::string want :
       {"istio_requests_total{", "reporter=\"waypoint\"", "response_code=\"200\"",
        "request_protocol=\"http\"", "source_workload=\"client\"",
        "destination_service=\"my-app.default.svc.cluster.local\"",
        "destination_principal=\"spiffe://cluster.local/ns/default/sa/my-app\"",
        "istio_request_duration_milliseconds_bucket{", "istio_request_bytes_sum{",
        "istio_response_bytes_count{"}) {
    EXPECT_NE(m.out.find(want), std::string::npos) << want;
  }
  // The operational series (docs/observability.md): process, build and the waypoint's health.
  test::expectProcessAndBuildMetrics(m.out, "waypoint", "waypoint");
  EXPECT_EQ(test::metricSum(m.out, "ambit_config_info"), 1) << m.out;
  EXPECT_GT(test::metricSum(m.out, "istio_cert_expiry_seconds"),
            static_cast<double>(std::time(nullptr)) + 60)
      << "the waypoint's own certificate:\n"
      << m.out;
  // Istio's name (Kiali queries it) is the one lint finding allowed.
  EXPECT_EQ(test::promtoolProblems(
                m.out, {"istio_request_duration_milliseconds use base unit \"seconds\""}),
            "");
  auto records = test::matchingAccessRecords(waypointLog(), {{"method", "GET"},
                                                             {"path", "/"},
                                                             {"protocol", "HTTP/1.1"},
                                                             {"response_code", "200"},
                                                             {"src.workload", "client"},
                                                             {"authz", "allow"}});
  ASSERT_FALSE(records.empty()) << waypointLog();
  EXPECT_EQ(records.back()["dst.service"], "my-app.default.svc.cluster.local");
  EXPECT_EQ(records.back()["trace_id"].size(), 32u) << records.back()["trace_id"];
}

TEST_F(WaypointE2eTest, HttpRouteWeightsSplitLikeTheVirtualServiceAndHeaderMatchWins) {
  // GAMMA: an HTTPRoute with the Service as its parent, weighting two per-version Services.
  applyConfig(R"(apiVersion: v1
kind: Service
metadata: {name: my-app-v1, namespace: default}
spec:
  clusterIP: 10.96.0.21
  selector: {app: my-app, version: v1}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: my-app-v2, namespace: default}
spec:
  clusterIP: 10.96.0.22
  selector: {app: my-app, version: v2}
  ports: [{name: http, port: 80, targetPort: 8080}]
)" + std::string("---\n") +
                  test::canaryHttpRoute(),
              1, 0);
  nlohmann::json r = split(2000);
  EXPECT_EQ(r["statuses"].value("200", 0), 2000) << r;
  int v1 = r["versions"].value("v1", 0);
  int v2 = r["versions"].value("v2", 0);
  std::cout << "HTTPRoute split of 2000: v1=" << v1 << " v2=" << v2 << "\n";
  EXPECT_GE(v1, 1540) << r;
  EXPECT_LE(v1, 1660) << r;
  EXPECT_GE(v2, 340) << r;
  EXPECT_LE(v2, 460) << r;
  nlohmann::json canary = split(100, "/", {"x-canary:yes"});
  EXPECT_EQ(canary["versions"].value("v2", 0), 100) << canary;
}

TEST_F(WaypointE2eTest, EveryPathBypassClassStaysDenied) {
  applyConfig(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
  - to: [{operation: {hosts: ["secret.example.com"]}}]
)",
              0, 1);
  // Through curl --path-as-is: dot segments, doubled slashes, escaped slash and backslash,
  // escaped letters, path parameters (Envoy CVE-2019-9901, CVE-2021-29492; Istio
  // CVE-2021-31920, CVE-2021-39156).
  for (const std::string path :
       {"/admin", "/admin/", "/x/../admin", "/./admin", "//admin", "/admin//users",
        "/admin%2Fusers", "/admin%2fusers", "/admin%5Cusers", "/%61dmin/users", "/ADMIN/../admin",
        "/admin;x=1", "/admin/users;jsessionid=1"}) {
    CommandOutput out = curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10" + path});
    EXPECT_EQ(out.out, "403") << path;
  }
  // A fragment is never sent by curl; a raw request carries one (Istio CVE-2021-39155 is the
  // host case below; fragments: CVE-2021-39156).
  std::string frag =
      raw("GET /admin#public HTTP/1.1\\r\\nHost: my-app\\r\\nConnection: close\\r\\n\\r\\n");
  EXPECT_EQ(frag.rfind("HTTP/1.1 403", 0), 0u) << frag;
  // Host names are compared case-insensitively, with or without a port.
  for (const std::string host :
       {"secret.example.com", "SECRET.Example.COM", "secret.example.com:80"}) {
    CommandOutput out = curl({"-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: " + host,
                              "http://10.96.0.10/public"});
    EXPECT_EQ(out.out, "403") << host;
  }
  CommandOutput ok = curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/public"});
  EXPECT_EQ(ok.out, "200");
}

TEST_F(WaypointE2eTest, SmuggledRequestsGet400AndNeverReachTheApp) {
  const std::string smuggled = "GET /smuggled HTTP/1.1\\r\\nHost: my-app\\r\\n\\r\\n";
  const std::string cases[] = {
      // CL + TE
      "POST / HTTP/1.1\\r\\nHost: my-app\\r\\nContent-Length: 4\\r\\n"
      "Transfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n" +
          smuggled,
      // two Content-Lengths
      "POST / HTTP/1.1\\r\\nHost: my-app\\r\\nContent-Length: 0\\r\\n"
      "Content-Length: 45\\r\\n\\r\\n" +
          smuggled,
      // obs-fold
      "POST / HTTP/1.1\\r\\nHost: my-app\\r\\nX-Fold: a\\r\\n b\\r\\n"
      "Content-Length: 0\\r\\n\\r\\n" +
          smuggled,
      // bare LF
      "POST / HTTP/1.1\\nHost: my-app\\nContent-Length: 0\\n\\n" + smuggled,
  };
  const size_t accessed_before = occurrences(waypointLog(), "/smuggled");
  for (const auto& c : cases) {
    std::string got = raw(c);
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << c << "\n---\n" << got;
    EXPECT_EQ(occurrences(got, "HTTP/1.1 "), 1u)
        << "a second response means the smuggled request was served:\n"
        << got;
  }
  // Oversized header block: 431.
  std::string big =
      "GET / HTTP/1.1\\r\\nHost: my-app\\r\\nX-Big: " + std::string(70000, 'a') + "\\r\\n\\r\\n";
  EXPECT_EQ(raw(big).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(occurrences(waypointLog(), "/smuggled"), accessed_before);
}

TEST_F(WaypointE2eTest, SpansReachTheCollectorWithTheCallersParentAndTheAppSeesTheClientSpan) {
  ZipkinCollector collector(lab_->name() + "-pod-waypoint");
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller = "00f067aa0ba902b7";
  CommandOutput w3c =
      curl({"-H", "traceparent: 00-" + trace + "-" + caller + "-01", "http://10.96.0.10/traced"});
  auto app = nlohmann::json::parse(w3c.out, nullptr, false);
  ASSERT_TRUE(app.is_object()) << w3c.out << w3c.err;
  // The app sees the waypoint's CLIENT span as its parent, in W3C and B3 form, and the B3
  // parent of that is the waypoint's SERVER span.
  const std::string seen = app["headers"].value("traceparent", "");
  ASSERT_EQ(seen.size(), 55u) << app;
  EXPECT_EQ(seen.substr(0, 36), "00-" + trace + "-");
  const std::string upstream_span = seen.substr(36, 16);
  EXPECT_NE(upstream_span, caller);
  EXPECT_EQ(app["headers"].value("x-b3-traceid", ""), trace) << app;
  EXPECT_EQ(app["headers"].value("x-b3-spanid", ""), upstream_span) << app;
  const std::string waypoint_span = app["headers"].value("x-b3-parentspanid", "");
  EXPECT_EQ(waypoint_span.size(), 16u) << app;
  EXPECT_NE(waypoint_span, caller);

  // A B3-only caller (single header), and one with no context: the waypoint starts a trace.
  const std::string b3_trace = "80f198ee56343ba864fe8b2a57d3eff7";
  const std::string b3_caller = "e457b5a2e4d86bd1";
  curl({"-o", "/dev/null", "-H", "b3: " + b3_trace + "-" + b3_caller + "-1",
        "http://10.96.0.10/b3"});
  CommandOutput fresh = curl({"http://10.96.0.10/fresh"});
  auto fresh_app = nlohmann::json::parse(fresh.out, nullptr, false);
  ASSERT_TRUE(fresh_app.is_object()) << fresh.out;
  const std::string fresh_seen = fresh_app["headers"].value("traceparent", "");
  ASSERT_EQ(fresh_seen.size(), 55u) << fresh_app;

  auto find = [&](const std::string& trace_id, const std::string& kind = "SERVER") {
    for (const auto& s : collector.spans()) {
      if (s.value("traceId", "") == trace_id && s.value("kind", "") == kind) return s;
    }
    return nlohmann::json();
  };
  ASSERT_TRUE(eventually([&] { return !find(trace).is_null(); }, std::chrono::seconds(10)))
      << collector.spans().dump() << "\n"
      << waypointLog();
  nlohmann::json span = find(trace);
  EXPECT_EQ(span.value("id", ""), waypoint_span) << span;
  EXPECT_EQ(span.value("parentId", ""), caller) << span;
  EXPECT_EQ(span.value("kind", ""), "SERVER") << span;
  EXPECT_EQ(span["localEndpoint"].value("serviceName", ""), "waypoint.default") << span;
  EXPECT_GT(span.value("duration", 0), 0) << span;
  EXPECT_EQ(span["tags"].value("http.status_code", ""), "200") << span;
  ASSERT_TRUE(eventually([&] { return !find(trace, "CLIENT").is_null(); }));
  nlohmann::json upstream = find(trace, "CLIENT");
  EXPECT_EQ(upstream.value("id", ""), upstream_span) << upstream;
  EXPECT_EQ(upstream.value("parentId", ""), waypoint_span) << upstream;
  EXPECT_EQ(upstream["remoteEndpoint"].value("port", 0), 8080) << upstream;

  ASSERT_TRUE(eventually([&] { return !find(b3_trace).is_null(); }, std::chrono::seconds(10)));
  EXPECT_EQ(find(b3_trace).value("parentId", ""), b3_caller);
  const std::string fresh_trace = fresh_seen.substr(3, 32);
  ASSERT_TRUE(eventually([&] { return !find(fresh_trace).is_null(); }, std::chrono::seconds(10)));
  nlohmann::json root = find(fresh_trace);
  EXPECT_FALSE(root.contains("parentId")) << root;
  EXPECT_EQ(fresh_app["headers"].value("x-b3-parentspanid", ""), root.value("id", "")) << root;
}

}  // namespace
}  // namespace ambit::e2e
