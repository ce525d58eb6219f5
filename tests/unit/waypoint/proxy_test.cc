// HttpProxy end to end over real HBONE on loopback: a client tunnels to the waypoint
// (:authority = the service VIP), the waypoint routes each HTTP/1.1 request to one of three
// fake endpoints (HBONE servers on 127.0.0.2/3/4 that answer HTTP themselves).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/jwt_signer.h"
#include "tests/unit/waypoint/proxy_fixture.h"
#include "waypoint/http_proxy.h"
#include "waypoint/metrics.h"

namespace ambit::waypoint::testing {
namespace {

using namespace std::chrono_literals;

// A fake endpoint: its ztunnel and app in one. Answers every request with its pod name;
// "/flaky" fails every other request with 503, "/slow" waits 300 ms, "/broken" is a 500 from
// my-app-v1b only.
struct FakeEndpoint {
  std::string pod;
  hbone::HboneServer* server = nullptr;  // owned by the fixture's endpoint_servers_
  int requests = 0;
  int flaky = 0;
  std::string last_traceparent;
  http::fields last_headers;
  http::fields first_headers;  // of the first request it served
};

class WaypointProxyTest : public WaypointProxyFixture {
 protected:
  WaypointProxyTest() : WaypointProxyFixture("waypoint test CA") {}

  ~WaypointProxyTest() override { shutdown(20ms); }

  void start(const std::string& extra_yaml) {
    index_ = buildIndex(extra_yaml);
    ASSERT_TRUE(index_);
    startEndpoints();
    router_ = std::make_unique<Router>([n = std::make_shared<uint64_t>(0)] {
      return static_cast<uint32_t>(((*n)++ % 100) * (4294967296ull / 100));
    });
    ProxyServices services;
    services.limits.header_bytes = 8192;
    authn_ = std::make_unique<RequestAuthenticator>(jwks_.get());
    services.authn = authn_.get();
    startProxy(std::move(services), HttpLimits{});
  }

  void startEndpoints() {
    const std::map<std::string, std::string> pods{
        {"127.0.0.2", "my-app-v1"}, {"127.0.0.3", "my-app-v2"}, {"127.0.0.4", "my-app-v1b"}};
    for (const auto& [ip, pod] : pods) {
      FakeEndpoint& e = endpoints_[ip];
      e.pod = pod;
      listenEndpoint(ip,
                     [&e](const hbone::ConnectRequest&) -> asio::awaitable<hbone::ConnectOutcome> {
                       co_return hbone::TerminateTunnel{
                           [&e](hbone::HboneStream s) { return serveApp(e, std::move(s)); }};
                     });
      e.server = endpoint_servers_.back().get();
      if (HasFatalFailure()) return;
    }
  }

  static asio::awaitable<void> serveApp(FakeEndpoint& e, hbone::HboneStream s) {
    MessageReader reader(s, HttpLimits{});
    for (;;) {
      auto req = co_await reader.readRequest();
      if (!req || !*req) break;
      ++e.requests;
      auto tp = (*req)->base()["traceparent"];
      e.last_traceparent.assign(tp.data(), tp.size());
      e.last_headers = (*req)->base();
      if (e.requests == 1) e.first_headers = (*req)->base();
      HttpResponse r{http::status::ok, 11};
      if ((*req)->target() == "/flaky" && e.flaky++ % 2 == 0)
        r.result(http::status::service_unavailable);
      if ((*req)->target() == "/broken" && e.pod == "my-app-v1b")
        r.result(http::status::internal_server_error);
      if ((*req)->target() == "/slow") {
        asio::steady_timer t(co_await asio::this_coro::executor, 300ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      if ((*req)->target() == "/hop") {  // hop-by-hop fields the proxy must not pass on
        r.set(http::field::keep_alive, "timeout=5");
        r.set(http::field::upgrade, "h2c");
        r.set(http::field::proxy_connection, "keep-alive");
      }
      r.set("x-pod", e.pod);
      r.body() = e.pod;
      r.keep_alive(true);
      r.prepare_payload();
      if (!co_await writeMessage(s, r)) break;
    }
    s.shutdownWrite();
  }

  static HttpRequest get(const std::string& target) {
    HttpRequest r{http::verb::get, target, 11};
    r.set(http::field::host, "my-app.default.svc.cluster.local");
    r.keep_alive(true);
    return r;
  }

  // Sends each request on one keep-alive tunnel; returns "<status> <body>" per request.
  std::vector<std::string> exchange(std::vector<HttpRequest> requests) {
    std::vector<std::string> out;
    run([&]() -> asio::awaitable<void> {
      auto s = co_await tunnel();
      if (!s) {
        ADD_FAILURE() << s.error().message;
        co_return;
      }
      MessageReader reader(*s, HttpLimits{});
      for (const auto& r : requests) {
        if (!co_await writeMessage(*s, r)) break;
        bool ends = false;
        auto resp = co_await reader.readResponse(false, ends);
        if (!resp) {
          out.push_back("ERR " + resp.error().message);
          break;
        }
        out.push_back(std::to_string(resp->result_int()) + " " + resp->body());
        responses_.push_back(std::move(*resp));
      }
      s->shutdownWrite();
    });
    return out;
  }

  std::map<std::string, FakeEndpoint> endpoints_;
  std::unique_ptr<JwksCache> jwks_;
  std::unique_ptr<RequestAuthenticator> authn_;
  std::vector<HttpResponse> responses_;
};

TEST_F(WaypointProxyTest, SeedSplitOverKeepAliveReusesUpstreamTunnels) {
  start(seedVirtualService());
  std::vector<HttpRequest> reqs(100, get("/"));
  auto out = exchange(reqs);
  ASSERT_EQ(out.size(), 100u);
  std::map<std::string, int> by_body;
  for (const auto& o : out) ++by_body[o];
  EXPECT_EQ(by_body["200 my-app-v1"] + by_body["200 my-app-v1b"], 80);
  EXPECT_EQ(by_body["200 my-app-v2"], 20);
  EXPECT_EQ(by_body["200 my-app-v1"], 40);  // round robin within the subset
  for (auto& [ip, e] : endpoints_) {
    EXPECT_EQ(e.server->stats().streams_accepted, 1u) << e.pod << ": upstream tunnel not reused";
  }
  ASSERT_EQ(records_.size(), 100u);
  prometheus::Labels l = requestLabels(records_.front());
  EXPECT_EQ(l["reporter"], "waypoint");
  EXPECT_EQ(l["response_code"], "200");
  EXPECT_EQ(l["request_protocol"], "http");
  EXPECT_EQ(l["source_workload"], "client");
  EXPECT_EQ(l["source_principal"], kClientId);
  EXPECT_EQ(l["destination_service"], "my-app.default.svc.cluster.local");
  EXPECT_EQ(l["destination_principal"], kAppId);
  std::string line =
      admin::formatAccessLog(accessLogRecord(records_.front()), admin::AccessLogFormat::kText);
  EXPECT_NE(line.find(" method=GET path=/ protocol=HTTP/1.1 response_code=200 "), std::string::npos)
      << line;
  EXPECT_NE(line.find(" src.identity=" + std::string(kClientId) + " dst.service=my-app."),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(" authz=allow "), std::string::npos) << line;
  auto json = nlohmann::json::parse(
      admin::formatAccessLog(accessLogRecord(records_.front()), admin::AccessLogFormat::kJson));
  EXPECT_EQ(json["response_code"], 200);
  EXPECT_EQ(json["trace_id"].get<std::string>().size(), 32u) << json.dump();
}

constexpr char kDenyAdmin[] = R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
)";

TEST_F(WaypointProxyTest, L7DenyGives403EvenForBypassForms) {
  start(kDenyAdmin);
  auto out = exchange({get("/admin"), get("/public/../admin/x"), get("//admin"), get("/%61dmin/x"),
                       get("/admin;x=1"), get("/"), get("/ADMIN/../admin?x=1")});
  ASSERT_EQ(out.size(), 7u);
  for (size_t i : {0, 1, 2, 3, 4, 6}) EXPECT_EQ(out[i], "403 RBAC: access denied") << i;
  EXPECT_EQ(out[5].substr(0, 3), "200");
  int upstream = 0;
  for (auto& [ip, e] : endpoints_) upstream += e.requests;
  EXPECT_EQ(upstream, 1);
  // The access log names the decision and the policy that made it.
  ASSERT_EQ(records_.size(), 7u);
  std::string denied =
      admin::formatAccessLog(accessLogRecord(records_[0]), admin::AccessLogFormat::kText);
  EXPECT_NE(denied.find(" response_code=403 "), std::string::npos) << denied;
  EXPECT_NE(denied.find(" authz=deny policy=default/deny-admin reason="), std::string::npos)
      << denied;
  // A denied request has the waypoint's SERVER span only: nothing went upstream.
  EXPECT_FALSE(upstreamSpanFor(records_[0]));
  EXPECT_TRUE(upstreamSpanFor(records_[5]));
  std::string allowed =
      admin::formatAccessLog(accessLogRecord(records_[5]), admin::AccessLogFormat::kText);
  EXPECT_NE(allowed.find(" authz=allow "), std::string::npos) << allowed;
}

TEST_F(WaypointProxyTest, RetriesRecoverFromEveryOtherRequestFailing) {
  start(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - route: [{destination: {host: my-app, subset: v2}}]
    retries: {attempts: 2, retryOn: 5xx}
)");
  auto out = exchange(std::vector<HttpRequest>(6, get("/flaky")));
  ASSERT_EQ(out.size(), 6u);
  for (const auto& o : out) EXPECT_EQ(o, "200 my-app-v2");
  EXPECT_EQ(endpoints_["127.0.0.3"].requests, 12);
}

// The endpoint is always spoken to in HTTP/1.1; the client gets its own version back.
TEST_F(WaypointProxyTest, AnHttp10ClientGetsAnHttp10Response) {
  start(seedVirtualService());
  HttpRequest old = get("/");
  old.version(10);
  old.set(http::field::connection, "keep-alive");
  auto out = exchange({old, old});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(responses_.size(), 2u);
  for (const auto& r : responses_) {
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_EQ(r.version(), 10u);
  }
}

// A VirtualService for my-app with these `http:` rules.
std::string myAppRoutes(const std::string& http_rules) {
  return "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
         "metadata: {name: my-app, namespace: default}\n"
         "spec:\n  hosts: [my-app]\n  http:\n" +
         http_rules;
}

// Hop-by-hop fields stop at the proxy both ways (RFC 9110 §7.6.1), whatever their case; the
// rest pass, and a body goes on framed by its length.
TEST_F(WaypointProxyTest, HopByHopFieldsStopAtTheProxyBothWays) {
  start(myAppRoutes("  - route: [{destination: {host: my-app, subset: v2}}]\n"));
  HttpRequest post{http::verb::post, "/hop", 11};
  post.set(http::field::host, "my-app.default.svc.cluster.local");
  post.set("KEEP-ALIVE", "timeout=5");
  post.set("proxy-connection", "keep-alive");
  post.set(http::field::te, "trailers");
  post.set(http::field::upgrade, "websocket");
  post.insert("X-Kept", "1");
  post.insert("X-Kept", "2");
  post.insert("x-kept-too", "3");
  post.body() = "hello";
  post.prepare_payload();
  post.keep_alive(true);
  HttpRequest get_hop = get("/hop");
  get_hop.set(http::field::content_length, "0");  // no body: the endpoint gets no length
  auto out = exchange({post, get_hop});
  ASSERT_EQ(out, (std::vector<std::string>{"200 my-app-v2", "200 my-app-v2"}));
  const http::fields& seen = endpoints_["127.0.0.3"].last_headers;  // the GET's
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                 http::field::te, http::field::upgrade, http::field::transfer_encoding,
                 http::field::content_length}) {
    EXPECT_EQ(seen.count(f), 0u) << f;
  }
  for (const auto& r : responses_) {
    for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                   http::field::upgrade}) {
      EXPECT_EQ(r.count(f), 0u) << f;
    }
    EXPECT_EQ(r[http::field::content_length], "9");  // "my-app-v2"
  }
  ASSERT_EQ(endpoints_["127.0.0.3"].requests, 2);
  EXPECT_EQ(endpoints_["127.0.0.3"].first_headers.count("x-kept"), 2u);
  EXPECT_EQ(endpoints_["127.0.0.3"].first_headers.count("x-kept-too"), 1u);
  EXPECT_EQ(endpoints_["127.0.0.3"].first_headers[http::field::content_length], "5");
  for (auto f : {http::field::keep_alive, http::field::proxy_connection, http::field::te,
                 http::field::upgrade, http::field::connection}) {
    EXPECT_EQ(endpoints_["127.0.0.3"].first_headers.count(f), 0u) << f;
  }
}

// A request without a body reaches the endpoint without Content-Length even when a route's
// header operation sets one: on a kept-alive upstream connection the endpoint would otherwise
// take the next request for this one's body.
TEST_F(WaypointProxyTest, ABodilessRequestGoesOnWithoutALengthWhateverTheRouteSets) {
  start(
      myAppRoutes("  - route: [{destination: {host: my-app, subset: v2}}]\n"
                  "    headers: {request: {set: {content-length: \"5\"}}}\n"));
  auto out = exchange({get("/a"), get("/b"), get("/c")});
  EXPECT_EQ(out, (std::vector<std::string>{"200 my-app-v2", "200 my-app-v2", "200 my-app-v2"}));
  EXPECT_EQ(endpoints_["127.0.0.3"].requests, 3);
  EXPECT_EQ(endpoints_["127.0.0.3"].last_headers.count(http::field::content_length), 0u);
}

// Six /flaky requests (every other try a 503) to my-app-v2, retried twice on `retry_on`: the
// replies and the tries my-app-v2 saw.
class RetryOnTest : public WaypointProxyTest {
 protected:
  std::pair<std::vector<std::string>, int> flaky(const std::string& retry_on) {
    start(
        myAppRoutes("  - route: [{destination: {host: my-app, subset: v2}}]\n"
                    "    retries: {attempts: 2, retryOn: \"" +
                    retry_on + "\"}\n"));
    auto out = exchange(std::vector<HttpRequest>(6, get("/flaky")));
    return {out, endpoints_["127.0.0.3"].requests};
  }
};

TEST_F(RetryOnTest, GatewayErrorRetriesA503) {
  auto [out, tries] = flaky("gateway-error");
  EXPECT_EQ(out, std::vector<std::string>(6, "200 my-app-v2"));
  EXPECT_EQ(tries, 12);
}

TEST_F(RetryOnTest, RetriableStatusCodesRetriesA503) {
  auto [out, tries] = flaky("retriable-status-codes");
  EXPECT_EQ(out, std::vector<std::string>(6, "200 my-app-v2"));
  EXPECT_EQ(tries, 12);
}

TEST_F(RetryOnTest, ConditionsThisProxyDoesNotKnowRetryNothing) {
  auto [out, tries] = flaky("refused-stream");
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "200 my-app-v2"), 3);
  EXPECT_EQ(tries, 6);
}

// A 500 is no gateway error: only 5xx retries it.
TEST_F(RetryOnTest, GatewayErrorDoesNotRetryA500) {
  start(
      myAppRoutes("  - route: [{destination: {host: my-app-v1}}]\n"
                  "    retries: {attempts: 2, retryOn: gateway-error}\n"));
  auto out = exchange(std::vector<HttpRequest>(20, get("/broken")));
  ASSERT_EQ(out.size(), 20u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "500 my-app-v1b"), 10);
  EXPECT_EQ(endpoints_["127.0.0.2"].requests + endpoints_["127.0.0.4"].requests, 20);
}

// my-app-v1 has two endpoints; my-app-v1b answers /broken with 500. Without outlier detection
// round robin keeps sending it half the requests; with it, v1b is ejected after 3 errors.
constexpr char kBrokenV1bRoute[] = R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - route: [{destination: {host: my-app-v1}}]
    retries: {attempts: 0}
)";

TEST_F(WaypointProxyTest, WithoutOutlierDetectionAFailingEndpointKeepsItsShare) {
  start(kBrokenV1bRoute);
  auto out = exchange(std::vector<HttpRequest>(20, get("/broken")));
  ASSERT_EQ(out.size(), 20u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "500 my-app-v1b"), 10);
  EXPECT_EQ(endpoints_["127.0.0.4"].requests, 10);
}

TEST_F(WaypointProxyTest, OutlierDetectionEjectsTheFailingEndpoint) {
  start(std::string(kBrokenV1bRoute) + R"(---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-app-v1, namespace: default}
spec:
  host: my-app-v1
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 30s, maxEjectionPercent: 100}
)");
  auto out = exchange(std::vector<HttpRequest>(20, get("/broken")));
  ASSERT_EQ(out.size(), 20u);
  EXPECT_EQ(std::count(out.begin(), out.end(), "500 my-app-v1b"), 3);
  EXPECT_EQ(std::count(out.begin(), out.end(), "200 my-app-v1"), 17);
  EXPECT_EQ(endpoints_["127.0.0.4"].requests, 3);
  EXPECT_EQ(router_->outliers().ejections(), 1u);
}

TEST_F(WaypointProxyTest, TimeoutAndFaultAbortFire) {
  start(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {exact: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: my-app}}]
  - route: [{destination: {host: my-app}}]
    timeout: 100ms
)");
  auto out = exchange({get("/teapot"), get("/slow"), get("/")});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "418 fault filter abort");
  EXPECT_EQ(out[1], "504 upstream request timeout");
  EXPECT_EQ(out[2].substr(0, 3), "200");
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_EQ(records_[0].response_flags, "FI");
  EXPECT_EQ(records_[1].response_flags, "UT");
}

// A delay that does not abort: the request waits, then goes upstream as any other.
TEST_F(WaypointProxyTest, FaultDelayThenForwards) {
  start(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - fault: {delay: {fixedDelay: 200ms, percentage: {value: 100}}}
    route: [{destination: {host: my-app}}]
)");
  const auto t0 = std::chrono::steady_clock::now();
  auto out = exchange({get("/")});
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].substr(0, 3), "200");
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].response_flags, "DI");
  EXPECT_TRUE(records_[0].forwarded);
  EXPECT_EQ(records_[0].status, 200u);
  EXPECT_GE(waited, std::chrono::milliseconds(200));  // the delay is the behaviour under test
}

TEST_F(WaypointProxyTest, RedirectAndRewriteRoutes) {
  start(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - match: [{uri: {prefix: /legacy}}]
    rewrite: {uri: /slow}
    route: [{destination: {host: my-app, subset: v2}}]
    timeout: 100ms
  - route: [{destination: {host: my-app, subset: v2}}]
)");
  auto out = exchange({get("/old/page"), get("/legacy"), get("/")});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "301 ");
  EXPECT_EQ(out[1], "504 upstream request timeout");  // rewritten to the app's slow path
  EXPECT_EQ(out[2], "200 my-app-v2");
  EXPECT_EQ(endpoints_["127.0.0.3"].requests, 2);
}

TEST_F(WaypointProxyTest, TraceContextContinuesWithTheWaypointSpanAsParent) {
  start(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - route: [{destination: {host: my-app, subset: v2}}]
)");
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  HttpRequest r = get("/");
  r.set("traceparent", "00-" + trace + "-00f067aa0ba902b7-01");
  auto out = exchange({r});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].trace_id, trace);
  EXPECT_EQ(records_[0].parent_span_id, "00f067aa0ba902b7");
  ASSERT_EQ(records_[0].span_id.size(), 16u);
  EXPECT_NE(records_[0].span_id, "00f067aa0ba902b7");
  // The endpoint's parent is the waypoint's CLIENT span, itself a child of its SERVER span.
  ASSERT_EQ(records_[0].upstream_span_id.size(), 16u);
  EXPECT_NE(records_[0].upstream_span_id, records_[0].span_id);
  EXPECT_EQ(endpoints_["127.0.0.3"].last_traceparent,
            "00-" + trace + "-" + records_[0].upstream_span_id + "-01");
  const Span server = spanFor(records_[0]);
  EXPECT_EQ(server.kind, SpanKind::kServer);
  EXPECT_EQ(server.parent_id, "00f067aa0ba902b7");
  EXPECT_FALSE(server.error);
  const std::optional<Span> client = upstreamSpanFor(records_[0]);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->kind, SpanKind::kClient);
  EXPECT_EQ(client->id, records_[0].upstream_span_id);
  EXPECT_EQ(client->parent_id, records_[0].span_id);
  EXPECT_EQ(client->remote_ip, "127.0.0.3");
  EXPECT_GE(server.duration, client->duration);
  EXPECT_LE(server.start, client->start);

  // Not sampled by the caller: the record says so (the waypoint then exports nothing).
  HttpRequest unsampled = get("/");
  unsampled.set("traceparent", "00-" + trace + "-00f067aa0ba902b7-00");
  exchange({unsampled});
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_FALSE(records_[1].sampled);
  EXPECT_EQ(endpoints_["127.0.0.3"].last_traceparent,
            "00-" + trace + "-" + records_[1].upstream_span_id + "-00");
}

TEST_F(WaypointProxyTest, MalformedSmuggledAndOversizedRequestsGet4xxAndNothingReachesTheApp) {
  start("");
  std::vector<std::string> raw{
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(10000, 'x') + "\r\n\r\n",
      "NOT HTTP\r\n\r\n",
      // Request smuggling: CL.TE, two equal Content-Lengths, obs-fold, bare LF.
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n", "GET / HTTP/1.1\nHost: a\n\n",
      // RFC 9110 §9.3.8: no content with TRACE.
      "TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"};
  std::vector<std::string> statuses;
  for (const auto& bytes : raw) {
    run([&]() -> asio::awaitable<void> {
      auto s = co_await tunnel();
      if (!s) co_return;
      (void)co_await s->write(asio::buffer(bytes));
      MessageReader reader(*s, HttpLimits{});
      bool ends = false;
      auto resp = co_await reader.readResponse(false, ends);
      statuses.push_back(resp ? std::to_string(resp->result_int()) : "ERR");
      s->shutdownWrite();
    });
  }
  EXPECT_EQ(statuses,
            (std::vector<std::string>{"400", "431", "400", "400", "400", "400", "400", "400"}));
  for (auto& [ip, e] : endpoints_) EXPECT_EQ(e.requests, 0) << e.pod;
}

// RequestAuthentication + AuthorizationPolicy through the proxy.
const ambit::test::JwtSigner& jwtKey() {
  static const auto k = ambit::test::JwtSigner::ec("wp-1");
  return k;
}

std::string requestAuthentication(const std::string& rule_extra = "") {
  return R"(
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  jwtRules:
  - issuer: https://issuer.example
    audiences: [my-app]
    jwks: ')" +
         ambit::test::JwtSigner::jwks(jwtKey()) + "'\n" + rule_extra;
}

HttpRequest withToken(HttpRequest r, const std::string& token) {
  r.set(http::field::authorization, "Bearer " + token);
  return r;
}

std::string token(const std::string& sub, nlohmann::json extra = nlohmann::json::object()) {
  auto c = ambit::test::JwtSigner::claims("https://issuer.example", sub, "my-app");
  c.update(extra);
  return jwtKey().sign(c);
}

TEST_F(WaypointProxyTest, InvalidJwtGets401MissingJwtPassesValidJwtIsStripped) {
  start(requestAuthentication());
  const int64_t past = 1000000000;
  auto out = exchange({
      withToken(get("/a?x=1"), token("alice")),
      get("/"),
      withToken(get("/a?x=1"), token("alice", {{"exp", past}})),
      withToken(get("/"), jwtKey().sign(ambit::test::JwtSigner::claims("https://other", "x"))),
      withToken(get("/"), token("alice", {{"aud", "reviews"}})),
      withToken(get("/"), "not-a-jwt"),
  });
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].substr(0, 3), "200");
  EXPECT_EQ(out[1].substr(0, 3), "200");
  EXPECT_EQ(out[2], "401 Jwt is expired");
  EXPECT_EQ(out[3], "401 Jwt issuer is not configured");
  EXPECT_EQ(out[4], "401 Audiences in Jwt are not allowed");
  EXPECT_EQ(out[5],
            "401 Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections");
  EXPECT_EQ(responses_[2][http::field::www_authenticate],
            "Bearer realm=\"http://my-app.default.svc.cluster.local/a\", error=\"invalid_token\"");
  int upstream = 0;
  for (auto& [ip, e] : endpoints_) {
    upstream += e.requests;
    if (e.requests > 0) {
      EXPECT_EQ(e.last_headers.count(http::field::authorization), 0u) << e.pod;
    }
  }
  EXPECT_EQ(upstream, 2);
}

// A RequestAuthentication for another Service, or for my-app in another namespace, does not
// apply: the token is not looked at, an invalid one passes, and the app sees it as sent.
TEST_F(WaypointProxyTest, RequestAuthenticationsForOtherTargetsDoNotApply) {
  std::string other_service = requestAuthentication();
  other_service.replace(other_service.find("name: my-app}"), 13, "name: reviews}");
  std::string other_ns = requestAuthentication();
  other_ns.replace(other_ns.find("namespace: default"), 18, "namespace: shop");
  start(other_service + "---" + other_ns);
  auto out = exchange({withToken(get("/"), "not-a-jwt")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].substr(0, 3), "200");
  int seen = 0;
  for (auto& [ip, e] : endpoints_) {
    if (e.requests == 0) continue;
    ++seen;
    EXPECT_EQ(e.last_headers[http::field::authorization], "Bearer not-a-jwt") << e.pod;
  }
  EXPECT_EQ(seen, 1);
}

// Every Authorization field is checked: a forged Bearer token behind a first field without the
// prefix is not waved through (with it the app would see an unchecked token).
TEST_F(WaypointProxyTest, EveryRepeatedTokenHeaderIsVerified) {
  start(requestAuthentication());
  HttpRequest forged = get("/");
  forged.insert(http::field::authorization, "Basic dXNlcjpwYXNz");
  forged.insert(http::field::authorization, "Bearer " + token("mallory") + "x");
  HttpRequest two_good = get("/");
  two_good.insert(http::field::authorization, "Bearer " + token("alice"));
  two_good.insert(http::field::authorization, "Bearer " + token("alice"));
  HttpRequest good_and_expired = get("/");
  good_and_expired.insert(http::field::authorization, "Bearer " + token("alice"));
  good_and_expired.insert(http::field::authorization,
                          "Bearer " + token("alice", {{"exp", 1000000000}}));
  auto out = exchange({forged, two_good, good_and_expired});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].substr(0, 4), "401 ") << out[0];  // the forged second field was checked
  EXPECT_EQ(out[1].substr(0, 3), "200");
  EXPECT_EQ(out[2], "401 Jwt is expired");
  for (auto& [ip, e] : endpoints_) {
    if (e.requests > 0) {
      EXPECT_EQ(e.last_headers.count(http::field::authorization), 0u) << e.pod;
    }
  }
}

TEST_F(WaypointProxyTest, RequestPrincipalsAndClaimsDecideWithAuthorizationPolicy) {
  start(requestAuthentication() + R"(---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  rules:
  - from: [{source: {requestPrincipals: ["https://issuer.example/*"]}}]
    to: [{operation: {paths: ["/public"]}}]
  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/admin"]}}]
    when:
    - {key: "request.auth.claims[groups]", values: [admin]}
    - {key: "request.auth.claims[org][team]", values: [core]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-bob, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{from: [{source: {requestPrincipals: ["https://issuer.example/bob"]}}]}]
)");
  nlohmann::json admin{{"groups", {"dev", "admin"}}, {"org", {{"team", "core"}}}};
  nlohmann::json dev{{"groups", {"dev"}}, {"org", {{"team", "core"}}}};
  auto out = exchange({
      get("/public"),
      withToken(get("/public"), token("alice")),
      withToken(get("/admin"), token("alice", admin)),
      withToken(get("/admin"), token("alice", dev)),
      withToken(get("/public"), token("bob")),
  });
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0], "403 RBAC: access denied");  // no token: no request principal
  EXPECT_EQ(out[1].substr(0, 3), "200");
  EXPECT_EQ(out[2].substr(0, 3), "200");
  EXPECT_EQ(out[3], "403 RBAC: access denied");
  EXPECT_EQ(out[4], "403 RBAC: access denied");
}

TEST_F(WaypointProxyTest, JwtLocationsForwardingAndPayloadHeader) {
  start(requestAuthentication(R"(    fromHeaders: [{name: x-jwt, prefix: "Token "}]
    fromParams: [jwt]
    forwardOriginalToken: true
    outputPayloadToHeader: x-jwt-payload
)"));
  const std::string t = token("carol");
  HttpRequest custom = get("/");
  custom.set("x-jwt", "Token " + t);
  auto out =
      exchange({custom, get("/?jwt=" + t), withToken(get("/"), "garbage"), get("/?jwt=garbage")});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].substr(0, 3), "200");
  EXPECT_EQ(out[1].substr(0, 3), "200");
  EXPECT_EQ(out[2].substr(0, 3), "200");  // Authorization is not a location of this rule
  EXPECT_EQ(out[3].substr(0, 3), "401");
  const FakeEndpoint* seen = nullptr;
  for (auto& [ip, e] : endpoints_) {
    if (e.last_headers.count("x-jwt") > 0) seen = &e;
  }
  ASSERT_NE(seen, nullptr) << "forwardOriginalToken: the x-jwt header must reach the app";
  auto payload = jwt::base64UrlDecode(std::string(seen->last_headers["x-jwt-payload"]));
  ASSERT_TRUE(payload);
  EXPECT_EQ(nlohmann::json::parse(*payload)["sub"], "carol");
}

}  // namespace
}  // namespace ambit::waypoint::testing
