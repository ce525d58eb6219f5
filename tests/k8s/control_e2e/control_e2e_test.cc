// The ambit-control binary end to end against a real kube-apiserver + etcd (issue 11): readiness
// and metrics, the mesh served over delta discovery to a node agent's DiscoverySource, who is
// refused (streams and CSRs) and why, a bad object's Event while its last good version stays,
// failover between two replicas, watches surviving etcd compaction and an API server restart
// (a delete made meanwhile is not lost), and waypoint objects following their Gateway.
// ambit-control runs as a child process (admin kubeconfig; the chart's RBAC is chart_test's).

#include <cstdio>
#include <set>
#include <thread>

#include "common/discovery/channel.h"
#include "common/identity/ca_client.h"
#include "common/identity/csr.h"
#include "common/kube/base64.h"
#include "tests/k8s/control_e2e/control_e2e_fixture.h"
#include "tests/support/observability.h"
#include "tests/support/prometheus.h"
#include "tests/support/wait.h"

namespace ambit::control {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using test::eventually;

constexpr auto kLong = std::chrono::seconds(60);

// The ambient-enrolled namespace label.
const json kAmbient = {{"istio.io/dataplane-mode", "ambient"}};

long millisSince(Clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// Why a DiscoverySource with these options is refused: its last_error once a stream ended.
std::string refusalOf(discovery::DiscoverySourceOptions options) {
  SourceRunner runner;
  EXPECT_TRUE(runner.start(std::move(options)));
  std::string error;
  eventually([&] { return !(error = runner.status().last_error).empty(); }, kLong);
  EXPECT_FALSE(runner.status().connected);
  EXPECT_EQ(runner.sink().count(), 0u) << "a refused stream must not deliver a mesh";
  return error;
}

TEST_F(ControlE2eTest, ReadyOnlyOnceEveryTypeIsListedAndMetricsAreServed) {
  // A replica whose credentials cannot list HTTPRoutes yet: it must not claim readiness (it
  // would serve a mesh without them) until it can.
  const std::string sa = "e2e-limited";
  std::string issuer;
  {
    auto state = test::sh("cat " + clusterRoot() + "/cluster.json");
    issuer = json::parse(state.out)["service_account_issuer"];
  }
  json all_but_routes = json::array();
  for (const char* group : {"", "apps", "discovery.k8s.io", "security.istio.io",
                            "networking.istio.io", "authentication.k8s.io", "events.k8s.io"}) {
    all_but_routes.push_back({{"apiGroups", {group}}, {"resources", {"*"}}, {"verbs", {"*"}}});
  }
  all_but_routes.push_back({{"apiGroups", {"gateway.networking.k8s.io"}},
                            {"resources", {"gateways", "gateways/status"}},
                            {"verbs", {"*"}}});
  auto grant = [&](const std::string& name, const json& rules) {
    apply(json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "ClusterRole"},
               {"metadata", {{"name", name}}},
               {"rules", rules}}
              .dump());
    apply(json{
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", name}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
        {"subjects", {{{"kind", "ServiceAccount"}, {"name", sa}, {"namespace", "ambit-system"}}}}}
              .dump());
  };
  grant("e2e-limited", all_but_routes);
  json kubeconfig = json::parse(test::sh("cat " + clusterRoot() + "/kubeconfig").out);
  kubeconfig["users"] = {
      {{"name", "ambit-test-admin"}, {"user", {{"token", token("ambit-system", sa, issuer)}}}}};
  auto limited =
      startReplica("ambit-control-limited", writeFile("limited.kubeconfig", kubeconfig.dump()));
  test::HttpAnswer ready;
  ASSERT_TRUE(eventually([&] { return (ready = limited->get("/ready")).status != 0; }, kLong))
      << limited->logTail();
  EXPECT_EQ(ready.status, 503) << "ready although HTTPRoutes cannot be listed";
  EXPECT_EQ(limited->get("/healthz").status, 200);
  // Still not ready once the forbidden list has been tried and retried.
  ASSERT_TRUE(eventually(
      [&] { return limited->logTail(400).find("httproutes") != std::string::npos; }, kLong))
      << limited->logTail();
  EXPECT_EQ(limited->get("/ready").status, 503);
  // A node agent connecting meanwhile is let in but gets no (partial) mesh.
  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({limited->address()}, agentTokenFile("node-ready"))));
  EXPECT_TRUE(eventually([&] {
    return test::metricSum(limited->get("/metrics").body, "ambit_discovery_streams") == 1;
  })) << agent.status().last_error
      << "\n"
      << limited->logTail();
  EXPECT_EQ(limited->get("/ready").status, 503);
  EXPECT_EQ(agent.sink().count(), 0u) << "a replica that is not ready served a mesh";

  grant("e2e-limited-routes", json::array({{{"apiGroups", {"gateway.networking.k8s.io"}},
                                            {"resources", {"httproutes"}},
                                            {"verbs", {"get", "list", "watch"}}}}));
  EXPECT_TRUE(limited->waitReady(kLong)) << limited->logTail();
  EXPECT_TRUE(agent.waitFor([](const v1::MeshSnapshot& s) { return s.namespaces_size() > 0; }))
      << agent.status().last_error;

  auto metrics = limited->get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  auto parsed = test::PrometheusText::parse(metrics.body);
  ASSERT_TRUE(parsed) << parsed.error().message;
  expectControlMetrics(*parsed, metrics.body, /*connected_agents=*/1);
  test::expectProcessAndBuildMetrics(metrics.body, "control", "ambit-control");
  // istiod's names, as istiod exposes them (counters without _total), are the lint findings
  // allowed: dashboards and alerts written for istiod query them so.
  EXPECT_EQ(test::promtoolProblems(
                metrics.body, {"citadel_server_", "pilot_xds_pushes", "pilot_total_xds_rejects"}),
            "");
  EXPECT_EQ(limited->terminate(), 0) << "SIGTERM should stop it cleanly\n" << limited->logTail();
}

TEST_F(ControlE2eTest, NodeAgentReceivesTheMeshAndItsChanges) {
  auto& ctl = control();
  const std::string ns = "e2e-mesh";
  createLabelledNamespace(ns, kAmbient);
  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({ctl.address()}, agentTokenFile("node-mesh"))));
  ASSERT_TRUE(agent.waitFor([](const v1::MeshSnapshot& s) { return s.namespaces_size() > 0; }))
      << agent.status().last_error << "\n"
      << ctl.logTail();
  EXPECT_TRUE(agent.status().connected);

  // The root is published in every namespace, the new one too.
  EXPECT_TRUE(runUntil([&] { return publishedRoot(ns) == publishedRoot("ambit-system"); }))
      << "no root certificate ConfigMap in " << ns;
  EXPECT_EQ(publishedRoot("default"), publishedRoot("ambit-system"));
  // One deleted or edited is put back (pods of the namespace mount it).
  auto removed =
      call(http::verb::delete_, "/api/v1/namespaces/" + ns + "/configmaps/ambit-ca-root-cert");
  ASSERT_EQ(removed.status, 200u) << removed.body;
  EXPECT_TRUE(runUntil([&] { return publishedRoot(ns) == publishedRoot("ambit-system"); }))
      << "the deleted root certificate ConfigMap was not put back\n"
      << ctl.logTail();
  auto edited = call(http::verb::patch, "/api/v1/namespaces/default/configmaps/ambit-ca-root-cert",
                     json{{"data", {{"root-cert.pem", "not a certificate"}}}},
                     "application/merge-patch+json");
  ASSERT_EQ(edited.status, 200u) << edited.body;
  EXPECT_TRUE(runUntil([&] { return publishedRoot("default") == publishedRoot("ambit-system"); }))
      << "the edited root certificate ConfigMap was not repaired\n"
      << ctl.logTail();

  auto written = Clock::now();
  createPod(ns, "web-1", "web", "node-mesh", {{"app", "web"}}, "10.20.0.5");
  auto svc = call(http::verb::post, "/api/v1/namespaces/" + ns + "/services",
                  json{{"metadata", {{"name", "web"}}},
                       {"spec", {{"selector", {{"app", "web"}}}, {"ports", {{{"port", 80}}}}}}});
  ASSERT_EQ(svc.status, 201u) << svc.body;
  const std::string uid = podUid(ns, "web-1");
  auto s = agent.waitFor([&](const v1::MeshSnapshot& s) {
    auto* service = findService(s, ns, "web");
    auto* w = findWorkload(s, ns, "web-1");
    return w && w->addresses_size() == 1 && service && service->endpoints_size() == 1;
  });
  ASSERT_TRUE(s) << ctl.logTail();
  std::printf("[ latency ] pod+service written -> in the agent's snapshot: %ld ms\n",
              millisSince(written));
  const v1::Workload& w = *findWorkload(*s, ns, "web-1");
  EXPECT_TRUE(w.enrolled());
  EXPECT_EQ(w.uid(), uid);
  EXPECT_EQ(w.node(), "node-mesh");
  EXPECT_EQ(w.service_account(), "web");
  ASSERT_EQ(w.addresses_size(), 1);
  EXPECT_EQ(w.addresses(0), "10.20.0.5");
  const v1::Service& service = *findService(*s, ns, "web");
  EXPECT_EQ(service.hostname(), "web.e2e-mesh.svc.cluster.local");
  EXPECT_EQ(service.endpoints(0), uid);
  EXPECT_EQ(service.vips_size(), 1) << "the cluster IP the API server allocated";

  written = Clock::now();
  labelNamespace(ns, {{"istio.io/dataplane-mode", nullptr}});
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    auto* w = findWorkload(s, ns, "web-1");
    return w && !w->enrolled();
  }));
  std::printf("[ latency ] namespace label removed -> workload not enrolled: %ld ms\n",
              millisSince(written));

  written = Clock::now();
  deletePod(ns, "web-1");
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    auto* service = findService(s, ns, "web");
    return !findWorkload(s, ns, "web-1") && service && service->endpoints_size() == 0;
  }));
  std::printf("[ latency ] pod deleted -> gone from the agent's snapshot: %ld ms\n",
              millisSince(written));
}

TEST_F(ControlE2eTest, CallersAreRefusedWithTheReason) {
  auto& ctl = control();
  const std::string ns = "e2e-refusals";
  createNamespace(ns);
  const std::string agent_token = agentTokenFile("node-r");

  auto none = sourceOptions({ctl.address()}, "");
  EXPECT_NE(refusalOf(none).find("no bearer token"), std::string::npos);

  auto audience = sourceOptions(
      {ctl.address()}, writeFile("aud", token("ambit-system", "ambit-agent", "not-ambit")));
  EXPECT_NE(refusalOf(audience).find("audience"), std::string::npos);

  auto stranger = sourceOptions({ctl.address()}, writeFile("stranger", token(ns, "web", "ambit")));
  std::string why = refusalOf(stranger);
  EXPECT_NE(why.find("e2e-refusals/web is neither the node agent"), std::string::npos) << why;

  const std::string expired =
      writeFile("expired", test::expiredToken(clusterRoot(), "ambit-system", "ambit-agent"));
  why = refusalOf(sourceOptions({ctl.address()}, expired));
  EXPECT_NE(why.find("expired"), std::string::npos) << why;

  // Certificates: the agent may obtain identities of pods on its own node only.
  auto caClient = [&](const std::string& token_file) { return certificateClient(ctl, token_file); };
  auto metric = [&](const std::string& name, const test::Labels& labels = {}) {
    return test::metricSum(ctl.get("/metrics").body, name, labels);
  };
  const double csrs = metric("citadel_server_csr_count");
  const double signed_before = metric("citadel_server_success_cert_issuance_count");
  const double not_allowed = metric("ambit_ca_csr_refused_total", {{"reason", "not_allowed"}});
  const double unauthenticated =
      metric("ambit_ca_csr_refused_total", {{"reason", "unauthenticated"}});
  const double authn_failures = metric("citadel_server_authentication_failure_count");

  auto id = identity::SpiffeId::make("cluster.local", ns, "web");
  ASSERT_TRUE(id);
  auto csr = identity::createWorkloadCsr(*id);
  ASSERT_TRUE(csr) << csr.error().message;
  auto agent = caClient(agent_token);
  auto refused = agent->createCertificate(csr->csrPem, std::chrono::hours(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, identity::kNotAllowed) << refused.error().message;
  EXPECT_NE(refused.error().message.find("node node-r"), std::string::npos)
      << refused.error().message;

  createPod(ns, "web-1", "web", "node-r");
  Result<identity::IssuedCertificate> issued = makeError("not asked yet");
  // The replica learns of the pod through its watch.
  EXPECT_TRUE(eventually(
      [&] {
        return static_cast<bool>(issued =
                                     agent->createCertificate(csr->csrPem, std::chrono::hours(1)));
      },
      kLong, std::chrono::milliseconds(100)))
      << issued.error().message;
  if (issued) {
    Status chain = test::verifyChain(issued->chainPem, publishedRoot(ns));
    EXPECT_TRUE(chain) << chain.message();
  }

  auto stale = caClient(expired)->createCertificate(csr->csrPem, std::chrono::hours(1));
  ASSERT_FALSE(stale);
  // CaClient maps gRPC codes it knows; UNAUTHENTICATED is not one of them (ca_client.h).
  EXPECT_NE(stale.error().message.find("(gRPC code 16)"), std::string::npos)
      << stale.error().message;
  EXPECT_NE(stale.error().message.find("expired"), std::string::npos) << stale.error().message;

  // Each call counted, each refusal under its reason (istiod's citadel_server_* and ambit's).
  EXPECT_GE(metric("citadel_server_csr_count") - csrs, 3.0);
  EXPECT_GE(metric("citadel_server_success_cert_issuance_count") - signed_before, 1.0);
  EXPECT_GE(metric("ambit_ca_csr_refused_total", {{"reason", "not_allowed"}}) - not_allowed, 1.0);
  EXPECT_GE(metric("ambit_ca_csr_refused_total", {{"reason", "unauthenticated"}}) - unauthenticated,
            1.0);
  EXPECT_GE(metric("citadel_server_authentication_failure_count") - authn_failures, 1.0);
}

std::string virtualService(const std::string& ns, int first, int second) {
  return fmt::format(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: {0}}}
spec:
  hosts: [reviews.{0}.svc.cluster.local]
  http:
  - route:
    - destination: {{host: reviews-v1.{0}.svc.cluster.local}}
      weight: {1}
    - destination: {{host: reviews-v2.{0}.svc.cluster.local}}
      weight: {2}
)",
                     ns, first, second);
}

bool servesWeights(const v1::MeshSnapshot& s, const std::string& ns, uint32_t a, uint32_t b) {
  auto* table = findRouteTable(s, ns, "reviews");
  if (!table || table->http_size() != 1 || table->http(0).destinations_size() != 2) return false;
  return table->http(0).destinations(0).weight() == a &&
         table->http(0).destinations(1).weight() == b;
}

TEST_F(ControlE2eTest, BadObjectGetsAnEventAndItsLastGoodVersionStays) {
  auto& ctl = control();
  const std::string ns = "e2e-routes";
  createLabelledNamespace(ns, kAmbient);
  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({ctl.address()}, agentTokenFile("node-routes"))));
  apply(virtualService(ns, 80, 20));
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return servesWeights(s, ns, 80, 20);
  })) << ctl.logTail();
  const double rejected_before =
      metric("ambit_control_rejected_objects_total", {{"kind", "VirtualService"}});

  apply(virtualService(ns, 80, 30));  // the CRD's schema admits it; ambit does not
  json event;
  ASSERT_TRUE(runUntil(
      [&] {
        auto list = call(http::verb::get, "/apis/events.k8s.io/v1/namespaces/" + ns + "/events");
        for (const auto& e : json::parse(list.body, nullptr, false).value("items", json::array())) {
          if (e["regarding"].value("name", "") == "reviews" &&
              e["regarding"].value("kind", "") == "VirtualService") {
            event = e;
          }
        }
        return !event.is_null();
      },
      kLong))
      << "no Event on VirtualService " << ns << "/reviews\n"
      << ctl.logTail();
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["reason"], "InvalidConfiguration");
  EXPECT_EQ(event["reportingController"], "ambit.dev/ambit-control");
  const std::string note = event.value("note", "");
  EXPECT_NE(note.find("weight"), std::string::npos) << note;
  EXPECT_NE(note.find("110"), std::string::npos) << note;
  EXPECT_TRUE(eventually([&] {
    return metric("ambit_control_rejected_objects_total", {{"kind", "VirtualService"}}) >
           rejected_before;
  }));

  // Everything else keeps flowing, and the served routes are still the good version's.
  createPod(ns, "ratings-1", "ratings", "node-routes", {{"app", "ratings"}}, "10.20.1.7");
  auto s = agent.waitFor(
      [&](const v1::MeshSnapshot& s) { return findWorkload(s, ns, "ratings-1") != nullptr; });
  ASSERT_TRUE(s);
  EXPECT_TRUE(servesWeights(*s, ns, 80, 20)) << "the last good VirtualService must stay served";

  apply(virtualService(ns, 70, 30));  // fixed: served again
  EXPECT_TRUE(
      agent.waitFor([&](const v1::MeshSnapshot& s) { return servesWeights(s, ns, 70, 30); }));
}

TEST_F(ControlE2eTest, ObjectMadePendingByAnotherGetsAnEvent) {
  auto& ctl = control();
  const std::string ns = "e2e-pending";
  createLabelledNamespace(ns, kAmbient);
  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({ctl.address()}, agentTokenFile("node-pending"))));
  auto rule = [&](const std::string& subset) {
    return fmt::format(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: ratings, namespace: {0}}}
spec:
  host: ratings.{0}.svc.cluster.local
  subsets:
  - {{name: {1}, labels: {{version: {1}}}}}
)",
                       ns, subset);
  };
  apply(rule("v1"));
  apply(fmt::format(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings, namespace: {0}}}
spec:
  hosts: [ratings.{0}.svc.cluster.local]
  http:
  - route:
    - destination: {{host: ratings.{0}.svc.cluster.local, subset: v1}}
)",
                    ns));
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return findRouteTable(s, ns, "ratings") != nullptr;
  })) << ctl.logTail();
  // The DestinationRule drops subset v1: the VirtualService now waits for it, and says so.
  apply(rule("v2"));
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return findRouteTable(s, ns, "ratings") == nullptr;
  })) << ctl.logTail();
  json event;
  ASSERT_TRUE(runUntil(
      [&] { return !(event = eventOn(ns, "VirtualService", "ratings", "Pending")).is_null(); },
      kLong))
      << "no Event on the VirtualService the DestinationRule change made pending\n"
      << ctl.logTail();
  EXPECT_NE(event.value("note", "").find("v1"), std::string::npos) << event.dump();
  auto vs = call(http::verb::get,
                 "/apis/networking.istio.io/v1/namespaces/" + ns + "/virtualservices/ratings");
  EXPECT_EQ(event["regarding"]["uid"], json::parse(vs.body)["metadata"]["uid"]);
}

TEST_F(ControlE2eTest, ClientFailsOverBetweenReplicasWithoutStaleData) {
  auto& first = control();
  auto second = startReplica("ambit-control-1");
  ASSERT_TRUE(second->waitReady()) << second->logTail();
  const std::string ns = "e2e-failover";
  createLabelledNamespace(ns, kAmbient);
  createPod(ns, "app-1", "app", "node-f", {{"app", "app"}}, "10.20.2.1");
  const std::string token_file = agentTokenFile("node-f");

  // Both replicas serve the same mesh at the same versions, certified by the same CA.
  SourceRunner to_first, to_second;
  ASSERT_TRUE(to_first.start(sourceOptions({first.address()}, token_file)));
  ASSERT_TRUE(to_second.start(sourceOptions({second->address()}, token_file)));
  auto has_app = [&](const v1::MeshSnapshot& s) {
    auto* w = findWorkload(s, ns, "app-1");
    return w && w->addresses_size() == 1;  // with the IP its status update wrote
  };
  ASSERT_TRUE(to_first.waitFor(has_app));
  ASSERT_TRUE(to_second.waitFor(has_app)) << to_second.status().last_error;
  EXPECT_TRUE(eventually([&] {
    return to_first.sink().last()->version() == to_second.sink().last()->version();
  })) << "replicas serve different versions of the same cluster";

  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({first.address(), second->address()}, token_file)));
  ASSERT_TRUE(agent.waitFor(has_app));
  const auto before = agent.status();
  const std::string version = agent.sink().last()->version();
  test::ControlProcess* victim = before.server == first.address() ? &first : second.get();
  victim->kill();
  ASSERT_TRUE(eventually(
      [&] {
        auto now = agent.status();
        return now.connected && now.server != before.server &&
               now.responses >= before.responses + config::kMeshTypes.size();
      },
      kLong))
      << agent.status().last_error;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the publish debounce
  EXPECT_EQ(agent.status().publishes, before.publishes)
      << "resuming on the other replica republished an unchanged mesh";
  EXPECT_EQ(agent.sink().last()->version(), version);

  auto written = Clock::now();
  createPod(ns, "app-2", "app", "node-f", {{"app", "app"}}, "10.20.2.2");
  EXPECT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return findWorkload(s, ns, "app-2") && findWorkload(s, ns, "app-1");
  }));
  std::printf("[ latency ] after failover, pod written -> snapshot: %ld ms\n",
              millisSince(written));
}

TEST_F(ControlE2eTest, WatchesSurviveCompactionAndApiServerRestartWithoutLosingADelete) {
  auto& ctl = control();
  const std::string ns = "e2e-expiry";
  createLabelledNamespace(ns, kAmbient);
  createPod(ns, "p1", "app", "node-x", {{"app", "p"}}, "10.20.3.1");
  createPod(ns, "p2", "app", "node-x", {{"app", "p"}}, "10.20.3.2");
  SourceRunner agent;
  ASSERT_TRUE(agent.start(sourceOptions({ctl.address()}, agentTokenFile("node-x"))));
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return findWorkload(s, ns, "p1") && findWorkload(s, ns, "p2");
  }));

  auto compacted = test::clusterHarness("compact-etcd --root " + clusterRoot());
  ASSERT_EQ(compacted.exit_code, 0) << compacted.out;
  createPod(ns, "p3", "app", "node-x", {{"app", "p"}}, "10.20.3.3");
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) { return findWorkload(s, ns, "p3"); }))
      << "a pod created after the compaction did not arrive\n"
      << ctl.logTail();

  // Restart the API server; while it is down, p2 goes (straight from etcd) and etcd is
  // compacted past everything ambit-control saw: it must relist and find p2 gone.
  const uint16_t apiserver_port = static_cast<uint16_t>(std::stoi(config_.port));
  std::string etcd_url;
  {
    auto state = test::sh("cat " + clusterRoot() + "/cluster.json");
    etcd_url = json::parse(state.out)["etcd_url"];
  }
  test::Subprocess restart;
  ASSERT_TRUE(restart.start(
      {.argv = {"python3", std::string(AMBIT_SOURCE_DIR) + "/tests/k8s/cluster/cluster.py",
                "restart-apiserver", "--root", clusterRoot()},
       .log_file = files_.file("restart.log")}));
  ASSERT_TRUE(eventually([&] { return !test::tcpPortOpen(apiserver_port); }, kLong))
      << "the API server never went down";
  const std::string key = kube::base64Encode("/registry/pods/" + ns + "/p2");
  auto deleted = test::sh("curl -sS -X POST " + etcd_url + "/v3/kv/deleterange -d '{\"key\":\"" +
                          key + "\"}'");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  EXPECT_NE(deleted.out.find("\"deleted\":\"1\""), std::string::npos) << deleted.out;
  compacted = test::clusterHarness("compact-etcd --root " + clusterRoot());
  ASSERT_EQ(compacted.exit_code, 0) << compacted.out;
  auto restarted = restart.waitExit(std::chrono::minutes(3));
  ASSERT_TRUE(restarted.has_value() && *restarted == 0)
      << test::sh("cat " + files_.file("restart.log")).out;

  auto written = Clock::now();
  ASSERT_TRUE(agent.waitFor([&](const v1::MeshSnapshot& s) {
    return !findWorkload(s, ns, "p2") && findWorkload(s, ns, "p1") && findWorkload(s, ns, "p3");
  })) << "the pod deleted during the restart is still served\n"
      << ctl.logTail();
  std::printf("[ latency ] API server ready again -> deleted pod gone: %ld ms\n",
              millisSince(written));
  EXPECT_TRUE(agent.status().connected) << "discovery should not depend on the API server";
}

TEST_F(ControlE2eTest, WaypointObjectsAndIdentityFollowTheGateway) {
  auto& ctl = control();
  const std::string ns = "e2e-waypoint";
  createNamespace(ns);
  // The waypoint's own token: its service account is named after the Gateway.
  const std::string waypoint_token = writeFile("waypoint-token", token(ns, "waypoint", "ambit"));
  apply(fmt::format(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: waypoint, namespace: {}}}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {{name: mesh, port: 15008, protocol: HBONE}}
)",
                    ns));
  const std::vector<std::string> objects = {
      "/api/v1/namespaces/" + ns + "/serviceaccounts/waypoint",
      "/apis/apps/v1/namespaces/" + ns + "/deployments/waypoint",
      "/api/v1/namespaces/" + ns + "/services/waypoint"};
  for (const auto& path : objects) {
    EXPECT_TRUE(runUntil([&] { return call(http::verb::get, path).status == 200; }, kLong))
        << path << " was not created\n"
        << ctl.logTail();
  }
  auto deployment = json::parse(
      call(http::verb::get, "/apis/apps/v1/namespaces/" + ns + "/deployments/waypoint").body);
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["serviceAccountName"], "waypoint");
  EXPECT_EQ(deployment["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"], "waypoint");

  // The waypoint may take the mesh (and sees itself in it, at its Service's address).
  std::string cluster_ip;
  ASSERT_TRUE(runUntil([&] {
    auto svc = json::parse(call(http::verb::get, objects[2]).body, nullptr, false);
    cluster_ip = svc.is_discarded() ? "" : svc["spec"].value("clusterIP", "");
    return !cluster_ip.empty();
  }));
  {
    SourceRunner waypoint;
    ASSERT_TRUE(waypoint.start(sourceOptions({ctl.address()}, waypoint_token)));
    auto s = waypoint.waitFor([&](const v1::MeshSnapshot& s) {
      for (const auto& w : s.waypoints()) {
        if (w.namespace_() == ns && w.name() == "waypoint" && w.addresses_size() > 0) return true;
      }
      return false;
    });
    ASSERT_TRUE(s) << waypoint.status().last_error << "\n" << ctl.logTail();
    for (const auto& w : s->waypoints()) {
      if (w.name() == "waypoint") {
        EXPECT_EQ(w.addresses(0), cluster_ip);
      }
    }
  }

  // Its certificate: its own identity, nobody else's.
  auto client = certificateClient(ctl, waypoint_token);
  auto own = identity::SpiffeId::make("cluster.local", ns, "waypoint");
  auto other = identity::SpiffeId::make("cluster.local", ns, "someone-else");
  ASSERT_TRUE(own && other);
  auto own_csr = identity::createWorkloadCsr(*own);
  auto other_csr = identity::createWorkloadCsr(*other);
  ASSERT_TRUE(own_csr && other_csr);
  auto issued = client->createCertificate(own_csr->csrPem, std::chrono::hours(1));
  ASSERT_TRUE(issued) << issued.error().message;
  Status chain = test::verifyChain(issued->chainPem, publishedRoot(ns));
  EXPECT_TRUE(chain) << chain.message();
  auto refused = client->createCertificate(other_csr->csrPem, std::chrono::hours(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, identity::kNotAllowed) << refused.error().message;
  EXPECT_NE(refused.error().message.find("may only obtain its own identity"), std::string::npos)
      << refused.error().message;

  auto gone = kubectl("delete gateway.gateway.networking.k8s.io waypoint -n " + ns);
  ASSERT_EQ(gone.exit_code, 0) << gone.out;
  for (const auto& path : objects) {
    EXPECT_TRUE(runUntil([&] { return call(http::verb::get, path).status == 404; }, kLong))
        << path << " was not removed with its Gateway\n"
        << ctl.logTail();
  }
  // Without its Gateway the service account is nobody's waypoint any more.
  const std::string why = refusalOf(sourceOptions({ctl.address()}, waypoint_token));
  EXPECT_NE(why.find("e2e-waypoint/waypoint is neither the node agent"), std::string::npos) << why;
}

}  // namespace
}  // namespace ambit::control
