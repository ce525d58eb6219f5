// ambitctl analyze and explain reading a real cluster (--kubeconfig): objects created through the
// API (CRDs from deploy/manifests/crds.yaml), findings named "kubernetes:<Kind> ns/name", the
// namespace scope of istioctl (default, -n, -A), and an explanation of a request between pods
// whose status the test writes (there is no kubelet).
#include <gmock/gmock.h>

#include <fstream>

#include "tests/k8s/support/k8s_cluster.h"
#include "tests/support/subprocess.h"

namespace ambit::test {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string kSource = AMBIT_SOURCE_DIR;

class InspectK8sTest : public KubeClusterTest {
 public:
  static void SetUpTestSuite() {
    startCluster("ambit-inspect-k8s");
    if (missing_) return;
    std::ifstream state(clusterRoot() + "/cluster.json");
    const json cluster = json::parse(state, nullptr, false);
    if (cluster.is_discarded() || !cluster.contains("bin_dir")) {
      missing_ = "cannot read " + clusterRoot() + "/cluster.json";
      return;
    }
    const auto crds =
        sh(cluster["bin_dir"].get<std::string>() + "/kubectl --kubeconfig " + clusterRoot() +
           "/kubeconfig apply -f " + kSource + "/deploy/manifests/crds.yaml");
    if (crds.exit_code != 0) {
      missing_ = "cannot apply the CRDs:\n" + crds.out + crds.err;
      ADD_FAILURE() << *missing_;
    }
  }
  static void TearDownTestSuite() { stopCluster(); }

 protected:
  CommandOutput ambitctl(const std::string& args) {
    return sh(binary("ambitctl") + " " + args + " --kubeconfig " + clusterRoot() + "/kubeconfig");
  }

  void create(const std::string& collection, const json& object) {
    auto r = call(http::verb::post, collection, object);
    ASSERT_TRUE(r.status == 201 || r.status == 409) << collection << ": " << r.body;
  }

  void createPod(const std::string& ns, const std::string& name, const json& labels,
                 const std::string& ip) {
    json pod = {
        {"metadata", {{"name", name}, {"labels", labels}}},
        {"spec",
         {{"nodeName", "node1"}, {"containers", {{{"name", "app"}, {"image", "example/app"}}}}}}};
    auto r = call(http::verb::post, "/api/v1/namespaces/" + ns + "/pods", pod);
    ASSERT_EQ(r.status, 201u) << r.body;
    json written = json::parse(r.body);
    written["status"] = {{"phase", "Running"}, {"podIP", ip}, {"podIPs", {{{"ip", ip}}}}};
    auto st =
        call(http::verb::put, "/api/v1/namespaces/" + ns + "/pods/" + name + "/status", written);
    ASSERT_EQ(st.status, 200u) << st.body;
  }
};

TEST_F(InspectK8sTest, AnalyzeAndExplainReadTheCluster) {
  create("/api/v1/namespaces",
         {{"metadata", {{"name", "shop"}, {"labels", {{"istio.io/dataplane-mode", "ambient"}}}}}});
  // No controller manager: the namespace's default service account is the test's to create.
  create("/api/v1/namespaces/shop/serviceaccounts", {{"metadata", {{"name", "default"}}}});
  createPod("shop", "web-1", {{"app", "web"}}, "10.244.9.11");
  createPod("shop", "client", {{"app", "client"}}, "10.244.9.12");
  if (HasFatalFailure()) return;
  create("/api/v1/namespaces/shop/services",
         {{"metadata", {{"name", "web"}}},
          {"spec",
           {{"selector", {{"app", "web"}}}, {"ports", {{{"port", 80}, {"targetPort", 8080}}}}}}});
  create(
      "/apis/networking.istio.io/v1/namespaces/shop/virtualservices",
      {{"apiVersion", "networking.istio.io/v1"},
       {"kind", "VirtualService"},
       {"metadata", {{"name", "ghost"}}},
       {"spec",
        {{"hosts", {"ghost"}}, {"http", {{{"route", {{{"destination", {{"host", "web"}}}}}}}}}}}});
  create(
      "/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies",
      {{"apiVersion", "security.istio.io/v1"},
       {"kind", "AuthorizationPolicy"},
       {"metadata", {{"name", "web-only-from-admin"}}},
       {"spec",
        {{"selector", {{"matchLabels", {{"app", "web"}}}}},
         {"rules",
          {{{"from", {{{"source", {{"principals", {"cluster.local/ns/shop/sa/admin"}}}}}}}}}}}}});

  // istioctl's scope: namespace default unless -n or -A.
  const auto fallback = ambitctl("analyze");
  EXPECT_EQ(fallback.exit_code, 0) << fallback.out << fallback.err;
  const auto shop = ambitctl("analyze -n shop");
  EXPECT_EQ(shop.exit_code, 79) << shop.err;
  EXPECT_THAT(shop.out, HasSubstr("Error [IST0101] (VirtualService shop/ghost "
                                  "kubernetes:VirtualService shop/ghost) Referenced host not "
                                  "found: \"ghost.shop.svc.cluster.local\""));
  EXPECT_EQ(ambitctl("analyze -A").exit_code, 79);

  const auto e = ambitctl("explain --from shop/client --to web -o json");
  ASSERT_EQ(e.exit_code, 0) << e.err << ambitctl("analyze -A -o yaml").out;
  const json j = json::parse(e.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << e.out;
  EXPECT_EQ(j["verdict"], "DENY") << j.dump(2);
  EXPECT_EQ(j["destinations"][0]["endpoints"][0], "shop/web-1 10.244.9.11:8080");
  EXPECT_THAT(e.out, HasSubstr("AuthorizationPolicy shop/web-only-from-admin (ALLOW) "
                               "[kubernetes:AuthorizationPolicy shop/web-only-from-admin]"));
}

}  // namespace
}  // namespace ambit::test
