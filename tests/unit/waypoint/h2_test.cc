// HTTP/2 inside the tunnel, end to end over real HBONE on loopback with third-party peers:
// python3-h2 (tests/unit/waypoint/h2_peer.py), h2load and curl talk h2c (prior knowledge) to a
// local "client ztunnel" (a TCP listener that tunnels each connection to the waypoint with the
// service VIP as :authority); the waypoint routes to fake endpoints that answer HTTP/1.1
// themselves, or, for a Service port with appProtocol http2, to a python h2c backend behind
// the endpoint's HBONE server.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/async/spawn.h"
#include "tests/support/peer.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/text.h"
#include "tests/unit/waypoint/proxy_fixture.h"
#include "waypoint/http_proxy.h"
#include "waypoint/metrics.h"

namespace ambit::waypoint::testing {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using nlohmann::json;

constexpr char kPython[] = "/usr/bin/python3";
constexpr uint64_t kBodyLimit = 6u << 20;

// my-app gets an L7 deny for /admin; h2-app (10.96.0.30:80 -> 8090, appProtocol http2) has
// one endpoint, 127.0.0.5, which runs an HTTP/2 backend.
constexpr char kExtraYaml[] = R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: h2-app, namespace: default, labels: {app: h2-app}}
spec: {nodeName: node1, serviceAccountName: my-app}
status: {podIP: 127.0.0.5}
---
apiVersion: v1
kind: Service
metadata: {name: h2-app, namespace: default}
spec:
  selector: {app: h2-app}
  clusterIP: 10.96.0.30
  ports: [{port: 80, targetPort: 8090, appProtocol: http2}]
)";

// `command` through /bin/sh (killed after 60 s), stdout and stderr together.
test::CommandOutput runCommand(const std::string& command) { return test::sh(command, 60s, true); }

// An HTTP/1.1 app behind each fake endpoint: "/delay" answers after 1 s, "/echo" returns the
// request body, "/big" 4 MiB of a known pattern, everything else the pod name.
asio::awaitable<void> serveApp(std::string pod, hbone::HboneStream s) {
  MessageReader reader(s, HttpLimits{64u << 10, 64u << 20});
  for (;;) {
    auto req = co_await reader.readRequest();
    if (!req || !*req) break;
    HttpResponse r{http::status::ok, 11};
    std::string_view target((*req)->target().data(), (*req)->target().size());
    if (target == "/delay") {
      asio::steady_timer t(co_await asio::this_coro::executor, 1s);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (target == "/echo") {
      r.body() = (*req)->body();
    } else if (target == "/big") {
      r.body().resize(4u << 20);
      for (size_t i = 0; i < r.body().size(); ++i) r.body()[i] = static_cast<char>(i % 256);
    } else {
      r.body() = pod;
    }
    r.set("x-pod", pod);
    r.keep_alive(true);
    r.prepare_payload();
    if (!co_await writeMessage(s, r)) break;
  }
  s.shutdownWrite();
}

class H2ProxyTest : public WaypointProxyFixture {
 protected:
  H2ProxyTest() : WaypointProxyFixture("waypoint h2 test CA") {}

  void SetUp() override {
    AMBIT_REQUIRE(test::missingPythonModule("h2", "python3-h2"))
        << "; the HTTP/2 interop tests cannot run";
    start();
  }

  ~H2ProxyTest() override {
    backend_.stop();
    for (auto& a : front_doors_) a->close();
    shutdown(50ms);
  }

  void start() {
    index_ = buildIndex(kExtraYaml);
    ASSERT_TRUE(index_);
    startBackend();
    startEndpoints();
    ProxyServices services;
    services.limits = HttpLimits{8192, kBodyLimit};
    services.http2_idle_timeout = 3s;
    services.http2_header_timeout = 500ms;
    startProxy(std::move(services), HttpLimits{64u << 10, 64u << 20});
    my_app_port_ = frontDoor("10.96.0.10:80");
    h2_app_port_ = frontDoor("10.96.0.30:80");
  }

  // The python h2c backend behind 127.0.0.5 (its port on the first line of its output).
  void startBackend() {
    std::string script = std::string(AMBIT_SOURCE_DIR) + "/tests/unit/waypoint/h2_peer.py";
    ASSERT_TRUE(backend_.start({.argv = {kPython, script, "backend"}, .inherit_stderr = true}));
    auto line = backend_.readLine(test::Subprocess::Stream::kOut, 30s);
    ASSERT_TRUE(line && !line->empty()) << "h2 backend did not start";
    backend_port_ = static_cast<uint16_t>(std::atoi(line->c_str()));
  }

  void startEndpoints() {
    const std::map<std::string, std::string> pods{{"127.0.0.2", "my-app-v1"},
                                                  {"127.0.0.3", "my-app-v2"},
                                                  {"127.0.0.4", "my-app-v1b"},
                                                  {"127.0.0.5", "h2-app"}};
    for (const auto& [ip, name] : pods) {
      const std::string pod = name;  // clang 14 cannot capture a structured binding
      listenEndpoint(
          ip, [this, pod](const hbone::ConnectRequest&) -> asio::awaitable<hbone::ConnectOutcome> {
            if (pod == "h2-app") {
              ++backend_tunnels_;
              tcp::socket s(ioc_);
              boost::system::error_code ec;
              co_await s.async_connect(
                  tcp::endpoint(asio::ip::make_address("127.0.0.1"), backend_port_),
                  asio::redirect_error(asio::use_awaitable, ec));
              if (ec) co_return 503;
              co_return std::move(s);
            }
            co_return hbone::TerminateTunnel{
                [pod](hbone::HboneStream s) { return serveApp(pod, std::move(s)); }};
          });
      if (HasFatalFailure()) return;
    }
  }

  // A client ztunnel for one service: every TCP connection to the returned port becomes an
  // HBONE tunnel to the waypoint with `authority` as its target.
  uint16_t frontDoor(const std::string& authority) {
    auto& acceptor = front_doors_.emplace_back(std::make_unique<tcp::acceptor>(
        ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    spawn(ioc_, acceptLoop(*acceptor, authority), "test front door");
    return acceptor->local_endpoint().port();
  }

  asio::awaitable<void> acceptLoop(tcp::acceptor& acceptor, std::string authority) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      spawn(ioc_, tunnelOne(std::move(s), authority), "test tunnel");
    }
  }

  asio::awaitable<void> tunnelOne(tcp::socket s, std::string authority) {
    auto stream = co_await tunnel(std::move(authority));
    if (!stream) co_return;
    co_await stream->spliceWith(s);
  }

  // Runs a peer while this thread keeps serving on the io_context.
  test::CommandOutput runPeer(const std::string& command) {
    return test::runPeer(ioc_, command, 60s);
  }

  json python(uint16_t port, const std::string& args) {
    auto r = runPeer(std::string(kPython) + " " + AMBIT_SOURCE_DIR +
                     "/tests/unit/waypoint/h2_peer.py client --port " + std::to_string(port) + " " +
                     args);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? json::object() : j;
  }

  json requests(uint16_t port, const json& spec) {
    return python(port, "--spec '" + spec.dump() + "'")["results"];
  }

  test::Subprocess backend_;
  uint16_t backend_port_ = 0;
  int backend_tunnels_ = 0;
  std::vector<std::unique_ptr<tcp::acceptor>> front_doors_;
  uint16_t my_app_port_ = 0;
  uint16_t h2_app_port_ = 0;
};

TEST_F(H2ProxyTest, PriorKnowledgeRequestsReachAnHttp11Backend) {
  auto out = requests(my_app_port_, json::array({{{"path", "/"}}, {{"path", "/x?q=1"}}}));
  ASSERT_EQ(out.size(), 2u);
  std::set<std::string> pods{"my-app-v1", "my-app-v1b", "my-app-v2"};
  for (const auto& r : out) {
    EXPECT_EQ(r["status"], 200) << r.dump();
    EXPECT_TRUE(pods.count(r["body"].get<std::string>())) << r.dump();
    EXPECT_EQ(r["headers"]["x-pod"], r["body"]);
    EXPECT_FALSE(r["headers"].contains("connection")) << r.dump();
  }
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].protocol, "HTTP/2");
  EXPECT_EQ(records_[0].source_ip.to_string(), "10.1.2.3");
  EXPECT_EQ(requestLabels(records_[0])["request_protocol"], "http");
  std::string line =
      admin::formatAccessLog(accessLogRecord(records_[0]), admin::AccessLogFormat::kText);
  EXPECT_NE(line.find(" protocol=HTTP/2 response_code=200 "), std::string::npos) << line;
}

TEST_F(H2ProxyTest, SeedSplitHoldsForHttp2) {
  index_ = buildIndex(std::string(kExtraYaml) + "---\n" + seedVirtualService());
  json spec = json::array();
  for (int i = 0; i < 200; ++i) spec.push_back({{"path", "/"}});
  auto out = requests(my_app_port_, spec);
  ASSERT_EQ(out.size(), 200u);
  std::map<std::string, int> by_pod;
  for (const auto& r : out) {
    EXPECT_EQ(r["status"], 200) << r.dump();
    ++by_pod[r["body"].get<std::string>()];
  }
  const int v1 = by_pod["my-app-v1"] + by_pod["my-app-v1b"];
  EXPECT_EQ(v1 + by_pod["my-app-v2"], 200);
  EXPECT_GT(v1, 130);  // 80% of 200 = 160, binomial sd ~5.7
  EXPECT_LT(v1, 190);
}

TEST_F(H2ProxyTest, SlowStreamDoesNotBlockTheOthers) {
  json spec = json::array({{{"path", "/delay"}}});
  for (int i = 0; i < 10; ++i) spec.push_back({{"path", "/"}});
  auto out = requests(my_app_port_, spec);
  ASSERT_EQ(out.size(), 11u);
  EXPECT_EQ(out[0]["status"], 200);
  EXPECT_GE(out[0]["ms"].get<int>(), 900);
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_EQ(out[i]["status"], 200) << out[i].dump();
    EXPECT_LT(out[i]["ms"].get<int>(), 800) << "stream " << i << " waited for the slow one";
  }
}

TEST_F(H2ProxyTest, FourMegabyteBodiesBothWaysAreByteExact) {
  auto out = requests(my_app_port_,
                      json::array({{{"path", "/echo"}, {"method", "POST"}, {"body", 4 << 20}},
                                   {{"path", "/big"}}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["status"], 200);
  EXPECT_EQ(out[0]["body_len"], 4 << 20);
  EXPECT_EQ(out[0]["body_sha"], out[0]["sent_sha"]) << "echoed body differs";
  EXPECT_EQ(out[1]["status"], 200);
  EXPECT_EQ(out[1]["body_len"], 4 << 20);
  // sha256 of 4 MiB of bytes 0..255 repeating, i.e. what /big sends.
  auto sent_same = requests(
      my_app_port_, json::array({{{"path", "/echo"}, {"method", "POST"}, {"body", 4 << 20}}}));
  EXPECT_EQ(out[1]["body_sha"], sent_same[0]["sent_sha"]);
}

TEST_F(H2ProxyTest, AuthorizationAppliesToHttp2Requests) {
  auto out = requests(my_app_port_, json::array({{{"path", "/admin/x"}}, {{"path", "/ok"}}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["status"], 403);
  EXPECT_EQ(out[0]["body"], "RBAC: access denied");
  EXPECT_EQ(out[1]["status"], 200);
}

TEST_F(H2ProxyTest, AppProtocolHttp2ForwardsAsHttp2OnOneConnectionWithTrailers) {
  json spec = json::array();
  for (int i = 0; i < 20; ++i) spec.push_back({{"path", "/h2/" + std::to_string(i)}});
  auto out = requests(h2_app_port_, spec);
  ASSERT_EQ(out.size(), 20u);
  std::set<std::string> conns;
  for (const auto& r : out) {
    ASSERT_EQ(r["status"], 200) << r.dump();
    EXPECT_EQ(r["headers"]["x-backend"], "h2");
    EXPECT_EQ(r["trailers"]["grpc-status"], "0") << r.dump();
    std::string body = r["body"];
    EXPECT_EQ(body.rfind("h2 backend path=/h2/", 0), 0u) << body;
    conns.insert(body.substr(body.find("conn=")));
  }
  EXPECT_EQ(conns.size(), 1u) << "upstream HTTP/2 connection not reused";
  EXPECT_EQ(backend_tunnels_, 1);
  // A second client connection reuses the same upstream session.
  auto again = requests(h2_app_port_,
                        json::array({{{"path", "/again"}, {"method", "POST"}, {"body", 100000}}}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0]["body"].get<std::string>().find("body=100000"), std::string::npos);
  EXPECT_EQ(backend_tunnels_, 1);
  // gRPC-shaped: Istio labels it request_protocol="grpc"; grpc-status arrives as a trailer.
  auto grpc = requests(
      h2_app_port_,
      json::array({{{"path", "/pkg.Svc/Call"},
                    {"method", "POST"},
                    {"body", 5},
                    {"headers", {{"content-type", "application/grpc"}, {"te", "trailers"}}}}}));
  ASSERT_EQ(grpc.size(), 1u);
  EXPECT_EQ(grpc[0]["status"], 200) << grpc.dump();
  EXPECT_EQ(grpc[0]["trailers"]["grpc-status"], "0") << grpc.dump();
  ASSERT_FALSE(records_.empty());
  EXPECT_EQ(requestLabels(records_.back())["request_protocol"], "grpc");
}

TEST_F(H2ProxyTest, Http11ClientsStillWork) {
  auto r =
      runPeer("curl -sS --max-time 20 -o - -w ' %{http_code} %{http_version}' http://127.0.0.1:" +
              std::to_string(my_app_port_) + "/");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(" 200 1.1"), std::string::npos) << r.out;
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].protocol, "HTTP/1.1");
}

TEST_F(H2ProxyTest, CurlAndH2loadSpeakPriorKnowledge) {
  auto r = runPeer(
      "curl -sS --max-time 20 --http2-prior-knowledge -o /dev/null -w "
      "'%{http_code} %{http_version}' http://127.0.0.1:" +
      std::to_string(my_app_port_) + "/");
  EXPECT_EQ(r.out, "200 2") << r.out;
  // Several streams on one connection (nghttp; curl 7.88 cannot reuse an h2c connection).
  const std::string url = "http://127.0.0.1:" + std::to_string(my_app_port_) + "/";
  auto multi = runPeer("nghttp -t 20 -s " + url + "a " + url + "b " + url + "c");
  EXPECT_EQ(multi.exit_code, 0) << multi.out;
  EXPECT_EQ(test::occurrences(multi.out, " 200 "), 3u) << multi.out;
  auto load =
      runPeer("h2load -n 400 -c 2 -m 10 http://127.0.0.1:" + std::to_string(my_app_port_) + "/");
  EXPECT_EQ(load.exit_code, 0) << load.out;
  EXPECT_NE(load.out.find("400 succeeded, 0 failed, 0 errored"), std::string::npos) << load.out;
  EXPECT_NE(load.out.find("status codes: 400 2xx"), std::string::npos) << load.out;
}

TEST_F(H2ProxyTest, GarbageAfterThePrefaceGetsGoawayProtocolError) {
  auto j = python(my_app_port_, "--bad garbage");
  bool goaway = false;
  for (const auto& f : j["frames"]) {
    if (f["type"] == 7) {
      goaway = true;
      EXPECT_NE(f["error"], 0) << j.dump();
    }
  }
  EXPECT_TRUE(goaway) << j.dump();
  EXPECT_EQ(requests(my_app_port_, json::array({{{"path", "/"}}}))[0]["status"], 200);
}

TEST_F(H2ProxyTest, InvalidHeadersAreRejectedPerRfc9113) {
  for (const char* bad : {"uppercase", "connection", "te"}) {
    auto j = python(my_app_port_, std::string("--bad ") + bad);
    EXPECT_EQ(j["bad"]["reset"], 1) << bad << ": " << j.dump();  // PROTOCOL_ERROR
    EXPECT_TRUE(j["bad"]["status"].is_null()) << bad << ": " << j.dump();
  }
  EXPECT_TRUE(records_.empty()) << "a malformed request reached the pipeline";
  EXPECT_EQ(requests(my_app_port_, json::array({{{"path", "/"}}}))[0]["status"], 200);
}

// RFC 9110 §9.3.8: a TRACE with content gets 400 over HTTP/2 too (its conversion to an HTTP/1
// message used to throw, and the stream died without an answer); the session goes on.
TEST_F(H2ProxyTest, TraceWithABodyGets400AndTheSessionGoesOn) {
  auto out =
      requests(my_app_port_,
               json::array({{{"path", "/"}, {"method", "TRACE"}, {"body", 10}}, {{"path", "/"}}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["status"], 400) << out.dump();
  EXPECT_EQ(out[1]["status"], 200) << out.dump();
}

TEST_F(H2ProxyTest, OversizedHeaderListGets431AndOversizedBody413) {
  auto j = python(my_app_port_, "--bad huge-headers");
  EXPECT_EQ(j["bad"]["status"], 431) << j.dump();
  j = python(my_app_port_, "--bad big-body --size " + std::to_string(kBodyLimit + 100000));
  EXPECT_EQ(j["bad"]["status"], 413) << j.dump();
  EXPECT_EQ(requests(my_app_port_, json::array({{{"path", "/"}}}))[0]["status"], 200);
}

// Request bodies the proxy holds per session stay under the body limit: three 2.5 MiB bodies
// in flight at once (7.5 MiB > 6 MiB) get one stream refused (REFUSED_STREAM, 7), safe to retry.
TEST_F(H2ProxyTest, BodiesHeldPerSessionStayUnderTheBodyLimit) {
  auto j = python(my_app_port_, "--bad budget --size " + std::to_string(5u << 19));
  ASSERT_EQ(j["results"].size(), 3u) << j.dump();
  int ok = 0, refused = 0;
  for (const auto& r : j["results"]) {
    if (r["status"] == 200) ++ok;
    if (r["reset"] == 7) ++refused;
  }
  EXPECT_EQ(ok, 2) << j.dump();
  EXPECT_EQ(refused, 1) << j.dump();
  EXPECT_EQ(j["after"]["status"], 200) << j.dump();
}

TEST_F(H2ProxyTest, ResetMidBodyAndAbruptCloseLeaveTheProxyServing) {
  auto j = python(my_app_port_, "--bad rst-mid-body");
  EXPECT_EQ(j["after"]["status"], 200) << j.dump();
  python(my_app_port_, "--bad abrupt-close");
  auto out = requests(
      my_app_port_,
      json::array({{{"path", "/"}}, {{"path", "/echo"}, {"method", "POST"}, {"body", 5000}}}));
  EXPECT_EQ(out[0]["status"], 200);
  EXPECT_EQ(out[1]["body_sha"], out[1]["sent_sha"]);
}

TEST_F(H2ProxyTest, StalledSessionIsClosedAfterTheIdleTimeout) {
  auto j = python(my_app_port_, "--bad stall");
  EXPECT_GE(j["closed_after_ms"].get<int>(), 2500) << j.dump();
  EXPECT_LT(j["closed_after_ms"].get<int>(), 10000) << j.dump();
  EXPECT_EQ(requests(my_app_port_, json::array({{{"path", "/"}}}))[0]["status"], 200);
}

TEST_F(H2ProxyTest, DrainSendsGoawayAndFinishesOpenStreams) {
  // nghttp (python-h2 stops processing frames after a GOAWAY) logs every frame it receives.
  auto fut =
      std::async(std::launch::async, runCommand,
                 "nghttp -v -t 20 http://127.0.0.1:" + std::to_string(my_app_port_) + "/delay");
  auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) ioc_.run_one_for(10ms);
  proxy_->drain();
  while (fut.wait_for(0ms) != std::future_status::ready) ioc_.run_one_for(20ms);
  auto r = fut.get();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const size_t goaway = r.out.find("recv GOAWAY frame");
  const size_t status = r.out.find(":status: 200");
  ASSERT_NE(goaway, std::string::npos) << r.out;
  ASSERT_NE(status, std::string::npos) << r.out;
  EXPECT_LT(goaway, status) << "GOAWAY should come first, then the open stream finishes";
  EXPECT_NE(r.out.find("error_code=NO_ERROR"), std::string::npos) << r.out;
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].status, 200u);
}

// HTTP/2 attacks (issue 14, item 3) by tests/e2e/attack/h2_attack.py on the waypoint's h2c
// side, through the front door (as a client ztunnel would carry them). This process runs the
// waypoint and the front door; its CPU time and RSS growth must stay bounded (see
// tests/e2e/attack/attack_e2e_test.cc for the bounds), and a good request must be served after.
class H2AttackTest : public H2ProxyTest {
 protected:
  static double cpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  static long rssKb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0;
  }
  json attack(const std::string& args) {
    const double cpu_before = cpuSeconds();
    const long rss_before = rssKb();
    auto r = runPeer(
        std::string(kPython) + " " + AMBIT_SOURCE_DIR + "/tests/e2e/attack/h2_attack.py " + args +
        " --target 127.0.0.1:" + std::to_string(my_app_port_) + " --authority 10.96.0.10");
    const double cpu = cpuSeconds() - cpu_before;
    const long rss = rssKb() - rss_before;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object() && !j.contains("error")) << r.out << r.err;
    if (!j.is_object()) j = json::object();
    std::cout << "[attack] waypoint h2c (in process) " << j.value("attack", args) << ": cpu " << cpu
              << " s, rss +" << rss / 1024 << " MB, attacker: " << j.dump() << "\n";
    RecordProperty("cpu_s", std::to_string(cpu));
    EXPECT_LT(cpu, 2.0) << j.dump();
    EXPECT_LT(rss, 32 * 1024) << j.dump();
    EXPECT_EQ(requests(my_app_port_, json::array({{{"path", "/"}}}))[0]["status"], 200)
        << "after " << args;
    return j;
  }
  static bool ended(const json& r) {
    return !r.value("goaway", json()).is_null() || !r.value("closed_after", json()).is_null();
  }
  static int goaway(const json& r) {
    auto g = r.value("goaway", json());
    return g.is_null() ? -1 : g.get<int>();
  }
};

TEST_F(H2AttackTest, RapidResetEndsTheConnection) {
  auto r = attack("rapid-reset --count 20000 --wait 3");
  EXPECT_TRUE(ended(r)) << r.dump();
  EXPECT_LT(r.value("sent", 0), 40000) << "every stream was accepted: " << r.dump();
}

TEST_F(H2AttackTest, ContinuationFloodEndsTheConnection) {
  auto r = attack("continuation --count 200000 --wait 3");
  EXPECT_TRUE(ended(r)) << r.dump();
  EXPECT_LT(r.value("sent", 0), 200000) << r.dump();
}

// Each ends at http2::Connection's flood limits (1000 SETTINGS/PING then 100/s, 100 empty
// frames in a row) with ENHANCE_YOUR_CALM.
TEST_F(H2AttackTest, SettingsPingAndEmptyDataFloodsEndTheConnection) {
  for (const char* flood : {"settings-flood --count 500000", "ping-flood --count 500000",
                            "empty-data --count 200000"}) {
    SCOPED_TRACE(flood);
    auto r = attack(std::string(flood) + " --wait 2");
    EXPECT_EQ(goaway(r), 11) << r.dump();  // ENHANCE_YOUR_CALM
  }
}

// A header list 16x over the limit ends the connection (ENHANCE_YOUR_CALM) instead of the 431 a
// merely oversized one gets. Before that, each 16 KiB bomb block was decoded in full (~48 MB of
// fields copied and validated: 50 blocks took 0.84 s of CPU) and answered with 431.
TEST_F(H2AttackTest, HpackBombEndsTheConnection) {
  auto r = attack("hpack-bomb --count 50 --wait 3");
  EXPECT_EQ(goaway(r), 11) << r.dump();
  EXPECT_EQ(r.value("responses", 0), 0) << r.dump();
}

TEST_F(H2AttackTest, StreamsOverTheLimitAreRefused) {
  auto r = attack("stream-limit --count 400 --wait 2");
  EXPECT_LE(r.value("responses", 0), 100) << r.dump();
}

TEST_F(H2AttackTest, SlowHeadersAreClosedAfterTheHeaderTimeout) {
  auto r = attack("slowloris --count 20 --wait 5");
  EXPECT_EQ(r.value("closed", 0), 20) << r.dump();
  EXPECT_GE(r.value("last_closed_after", 0.0), 0.5) << r.dump();
  EXPECT_LT(r.value("last_closed_after", 1e9), 4.0) << r.dump();
}

TEST_F(H2AttackTest, ZeroWindowStallIsClosedAfterTheIdleTimeout) {
  auto r = attack("zero-window --count 50 --wait 6");
  EXPECT_FALSE(r.value("closed_after", json()).is_null()) << r.dump();  // idle timeout 3 s
}

}  // namespace
}  // namespace ambit::waypoint::testing
