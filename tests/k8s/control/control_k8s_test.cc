// ambit-control's Kubernetes-facing pieces against a real kube-apiserver: the CA Secret (created
// once even when two replicas race; a user's plug-in `cacerts` wins; a broken one is named), the
// TokenReview of callers' tokens (audience, pod binding, expiry), Events on objects, and the
// waypoint objects created for a Gateway.

#include "common/async/spawn.h"
#include "common/identity/signer.h"
#include "common/kube/base64.h"
#include "control/ca_secret.h"
#include "control/kube_writes.h"
#include "control/token_review.h"
#include "control/waypoint_deployer.h"
#include "tests/k8s/support/k8s_cluster.h"

namespace ambit::control {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

class ControlK8sTest : public test::KubeClusterTest {
 protected:
  static void SetUpTestSuite() { startCluster("ambit-control-k8s"); }
  static void TearDownTestSuite() { stopCluster(); }

  // Runs one coroutine to completion on the test's loop.
  template <typename T>
  T await(asio::awaitable<T> work) {
    std::optional<T> out;
    spawn(
        io_,
        [&, w = std::move(work)]() mutable -> asio::awaitable<void> {
          out = co_await std::move(w);
        },
        "test step");
    EXPECT_TRUE(runUntil([&] { return out.has_value(); }));
    return std::move(*out);
  }

  CaSecretOptions caOptions(const std::string& ns) {
    CaSecretOptions o;
    o.ns = ns;
    o.ca.trustDomain = "cluster.local";
    return o;
  }

  void createPod(const std::string& ns, const std::string& name, const std::string& sa,
                 const std::string& node) {
    json pod = {{"metadata", {{"name", name}}},
                {"spec",
                 {{"serviceAccountName", sa},
                  {"nodeName", node},
                  {"containers", {{{"name", "app"}, {"image", "example/app"}}}}}}};
    auto r = call(http::verb::post, "/api/v1/namespaces/" + ns + "/pods", pod);
    ASSERT_EQ(r.status, 201u) << r.body;
  }
};

TEST_F(ControlK8sTest, CaSecretIsCreatedOnceEvenWhenTwoReplicasRace) {
  createNamespace("ca-race");
  std::optional<Result<LoadedCa>> a, b;
  auto o = caOptions("ca-race");
  spawn(
      io_, [&]() -> asio::awaitable<void> { a = co_await loadOrCreateCa(*client_, o); }, "a");
  spawn(
      io_, [&]() -> asio::awaitable<void> { b = co_await loadOrCreateCa(*client_, o); }, "b");
  ASSERT_TRUE(runUntil([&] { return a && b; }));
  ASSERT_TRUE(*a) << a->error().message;
  ASSERT_TRUE(*b) << b->error().message;
  EXPECT_EQ((**a).ca->rootPem(), (**b).ca->rootPem()) << "two roots: replicas would disagree";
  EXPECT_EQ((**a).origin, "Secret ca-race/ambit-ca");
  auto again = await(loadOrCreateCa(*client_, o));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->ca->rootPem(), (**a).ca->rootPem());
}

TEST_F(ControlK8sTest, PluginCacertsWinsAndABrokenOneIsNamed) {
  createNamespace("ca-plugin");
  identity::EmbeddedCaOptions ca;
  ca.trustDomain = "cluster.local";
  auto material = identity::EmbeddedCa::generateMaterial(ca);
  ASSERT_TRUE(material);
  json secret = {{"metadata", {{"name", "cacerts"}}},
                 {"data",
                  {{"ca-cert.pem", kube::base64Encode(material->certPem)},
                   {"ca-key.pem", kube::base64Encode(material->keyPem)},
                   {"root-cert.pem", kube::base64Encode(material->rootPem)},
                   {"cert-chain.pem", kube::base64Encode(material->certPem)}}}};
  auto r = call(http::verb::post, "/api/v1/namespaces/ca-plugin/secrets", secret);
  ASSERT_EQ(r.status, 201u) << r.body;
  auto loaded = await(loadOrCreateCa(*client_, caOptions("ca-plugin")));
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->origin, "Secret ca-plugin/cacerts");
  EXPECT_EQ(loaded->ca->rootPem(), material->rootPem);
  auto own = call(http::verb::get, "/api/v1/namespaces/ca-plugin/secrets/ambit-ca");
  EXPECT_EQ(own.status, 404u) << "ambit must not create its own CA next to a plug-in one";

  secret["data"].erase("ca-key.pem");
  r = call(http::verb::put, "/api/v1/namespaces/ca-plugin/secrets/cacerts", secret);
  ASSERT_EQ(r.status, 200u) << r.body;
  auto broken = await(loadOrCreateCa(*client_, caOptions("ca-plugin")));
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("Secret ca-plugin/cacerts has no key ca-key.pem"),
            std::string::npos)
      << broken.error().message;
}

TEST_F(ControlK8sTest, TokenReviewNamesCallerPodAndNodeAndRefusesWithReasons) {
  createNamespace("ambit-system");
  auto node = call(http::verb::post, "/api/v1/nodes", json{{"metadata", {{"name", "node-a"}}}});
  ASSERT_TRUE(node.status == 201 || node.status == 409) << node.body;
  std::string plain = token("ambit-system", "ambit-agent", "ambit");
  createPod("ambit-system", "ambit-agent-a", "ambit-agent", "node-a");
  std::string bound = token("ambit-system", "ambit-agent", "ambit", "ambit-agent-a");
  std::string wrong_audience = token("ambit-system", "ambit-agent", "not-ambit");
  ASSERT_FALSE(plain.empty() || bound.empty() || wrong_audience.empty());

  TokenReviewer reviewer(*client_, "ambit");
  auto p = await(reviewer.review(plain));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->identity(), "ambit-system/ambit-agent");
  EXPECT_TRUE(p->node.empty());

  p = await(reviewer.review(bound));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->pod_name, "ambit-agent-a");
  EXPECT_FALSE(p->pod_uid.empty());
  EXPECT_EQ(p->node, "node-a") << "the API server should report the bound pod's node";

  auto refused = await(reviewer.review(wrong_audience));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, identity::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("audience"), std::string::npos) << refused.error().message;

  std::string expired = test::expiredToken(clusterRoot(), "ambit-system", "ambit-agent");
  ASSERT_FALSE(expired.empty());
  refused = await(reviewer.review(expired));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, identity::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("expired"), std::string::npos) << refused.error().message;

  refused = await(reviewer.review("not-a-token"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, identity::kUnauthenticated);
}

TEST_F(ControlK8sTest, EventOnABadObjectNamesTheFieldOnce) {
  createNamespace("events");
  auto cm = call(http::verb::post, "/api/v1/namespaces/events/configmaps",
                 json{{"metadata", {{"name", "target"}}}});
  ASSERT_EQ(cm.status, 201u) << cm.body;
  json object = json::parse(cm.body);
  object["apiVersion"] = "v1";
  object["kind"] = "ConfigMap";
  EventRecorder events(*client_, "ambit.dev/ambit-control", "test-replica");
  const std::string note = "spec.http[0].route: weights add up to 110, not 100";
  auto first = await(events.record(object, "Warning", "InvalidConfiguration", note));
  ASSERT_TRUE(first) << first.message();
  ASSERT_TRUE(await(events.record(object, "Warning", "InvalidConfiguration", note)));
  EXPECT_EQ(events.recorded(), 1u);
  auto list = call(http::verb::get, "/apis/events.k8s.io/v1/namespaces/events/events");
  ASSERT_EQ(list.status, 200u);
  auto items = json::parse(list.body)["items"];
  ASSERT_EQ(items.size(), 1u) << list.body;
  EXPECT_EQ(items[0]["note"], note);
  EXPECT_EQ(items[0]["regarding"]["name"], "target");
  EXPECT_EQ(items[0]["type"], "Warning");
}

TEST_F(ControlK8sTest, WaypointObjectsFollowTheGateway) {
  createNamespace("shop");
  // A Gateway is only a CRD object; a minimal CRD makes the API serve it here.
  json crd =
      json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"gateways.gateway.networking.k8s.io",
      "annotations":{"api-approved.kubernetes.io":"unapproved, test-only copy"}},
    "spec":{"group":"gateway.networking.k8s.io","scope":"Namespaced",
      "names":{"plural":"gateways","singular":"gateway","kind":"Gateway"},
      "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
        "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})");
  auto c = call(http::verb::post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  ASSERT_TRUE(c.status == 201 || c.status == 409) << c.body;
  json gw = {{"apiVersion", "gateway.networking.k8s.io/v1"},
             {"kind", "Gateway"},
             {"metadata", {{"name", "waypoint"}}},
             {"spec",
              {{"gatewayClassName", "istio-waypoint"},
               {"listeners", {{{"name", "mesh"}, {"port", 15008}, {"protocol", "HBONE"}}}}}}};
  kube::ApiResponse created;
  // The CRD takes a moment to be served.
  for (int i = 0; i < 100 && created.status != 201; ++i) {
    created =
        call(http::verb::post, "/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways", gw);
    if (created.status != 201) io_.run_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(created.status, 201u) << created.body;
  json gateway = json::parse(created.body);

  WaypointDeployer deployer(*client_, {});
  auto applied = await(deployer.apply(gateway));
  ASSERT_TRUE(applied) << applied.message();
  for (const char* path : {"/api/v1/namespaces/shop/serviceaccounts/waypoint",
                           "/apis/apps/v1/namespaces/shop/deployments/waypoint",
                           "/api/v1/namespaces/shop/services/waypoint"}) {
    auto got = call(http::verb::get, path);
    ASSERT_EQ(got.status, 200u) << path << ": " << got.body;
    EXPECT_EQ(json::parse(got.body)["metadata"]["ownerReferences"][0]["uid"],
              gateway["metadata"]["uid"]);
  }
  auto svc = json::parse(call(http::verb::get, "/api/v1/namespaces/shop/services/waypoint").body);
  auto gw_now = json::parse(
      call(http::verb::get, "/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways/waypoint")
          .body);
  EXPECT_EQ(gw_now["status"]["addresses"][0]["value"], svc["spec"]["clusterIP"]);
  // Applying again writes nothing new (idempotent), then removal deletes all three.
  ASSERT_TRUE(await(deployer.apply(gw_now)));
  ASSERT_TRUE(await(deployer.remove("shop", "waypoint")));
  EXPECT_EQ(call(http::verb::get, "/apis/apps/v1/namespaces/shop/deployments/waypoint").status,
            404u);
  EXPECT_EQ(call(http::verb::get, "/api/v1/namespaces/shop/services/waypoint").status, 404u);
  ASSERT_TRUE(await(deployer.remove("shop", "waypoint"))) << "removing twice is fine";
}

}  // namespace
}  // namespace ambit::control
