// The agent's Kubernetes-side pod components against a real kube-apiserver + etcd
// (tests/k8s/cluster), authenticated as a ServiceAccount bound to exactly the agent's RBAC of
// docs/kubernetes.md (get/list/watch pods, patch pods/status; no more): KubeNodePods sees only its
// node's pods (field selector), with the QoS class the API server computed, live IP changes and
// deletes; RedirectionAnnotator writes and removes ambient.istio.io/redirection through
// pods/status, and a patch for a pod that is gone (or recreated under the same name) changes
// nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <optional>

#include "agent/kube_node_pods.h"
#include "agent/redirection_annotator.h"
#include "agent/uninstall.h"
#include "common/async/spawn.h"
#include "tests/k8s/support/k8s_cluster.h"

namespace ambit::agent {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

const std::string kNs = "node-pods";
const std::string kNode = "ambit-test-node";

class KubeNodePodsK8sTest : public test::KubeClusterTest {
 protected:
  static void SetUpTestSuite() { startCluster("ambit-node-pods"); }
  static void TearDownTestSuite() { stopCluster(); }
  void SetUp() override {
    KubeClusterTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    admin_config_ = config_;
    setUpAgentIdentity();
  }

  void apply(const std::string& collection, const json& object) {
    auto r = call(http::verb::post, collection, object);
    ASSERT_TRUE(r.status == 201 || r.status == 409) << collection << ": " << r.body;
  }
  // The agent's ServiceAccount with exactly the contract's ClusterRole, and a client holding
  // its token.
  void setUpAgentIdentity() {
    apply("/api/v1/namespaces", {{"metadata", {{"name", "ambit-system"}}}});
    apply("/api/v1/namespaces", {{"metadata", {{"name", kNs}}}});
    apply("/api/v1/namespaces/ambit-system/serviceaccounts",
          {{"metadata", {{"name", "ambit-agent"}}}});
    // No controller manager runs: the test pods' ServiceAccount is created by hand.
    apply("/api/v1/namespaces/" + kNs + "/serviceaccounts", {{"metadata", {{"name", "default"}}}});
    apply("/apis/rbac.authorization.k8s.io/v1/clusterroles",
          {{"metadata", {{"name", "ambit-agent"}}},
           {"rules",
            {{{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get", "list", "watch"}}},
             {{"apiGroups", {""}}, {"resources", {"pods/status"}}, {"verbs", {"patch"}}}}}});
    apply(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {{"metadata", {{"name", "ambit-agent"}}},
         {"roleRef",
          {{"apiGroup", "rbac.authorization.k8s.io"},
           {"kind", "ClusterRole"},
           {"name", "ambit-agent"}}},
         {"subjects",
          {{{"kind", "ServiceAccount"}, {"name", "ambit-agent"}, {"namespace", "ambit-system"}}}}});
    auto token = test::clusterHarness("token --root " + root_ + " -n ambit-system ambit-agent");
    ASSERT_EQ(token.exit_code, 0) << token.out;
    kube::RestConfig agent = admin_config_;
    agent.client_cert_pem.clear();
    agent.client_key_pem.clear();
    agent.token = token.out.substr(0, token.out.find_last_not_of(" \n") + 1);
    agent_ = std::make_unique<kube::ApiClient>(io_.get_executor(),
                                               std::make_shared<kube::Credentials>(agent));
  }
  json pod(const std::string& name, const std::string& node, bool requests) {
    json container = {{"name", "app"}, {"image", "example.invalid/app:1"}};
    if (requests) container["resources"] = {{"requests", {{"cpu", "10m"}}}};
    return {{"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
            {"spec", {{"nodeName", node}, {"containers", json::array({container})}}}};
  }
  std::string podPath(const std::string& name) {
    return "/api/v1/namespaces/" + kNs + "/pods/" + name;
  }
  json get(const std::string& name) {
    auto r = call(http::verb::get, podPath(name));
    EXPECT_EQ(r.status, 200u) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  kube::RestConfig admin_config_;
  std::unique_ptr<kube::ApiClient> agent_;
};

TEST_F(KubeNodePodsK8sTest, SeesOnlyItsNodesPodsWithQosIpsAndDeletes) {
  const std::string collection = "/api/v1/namespaces/" + kNs + "/pods";
  apply(collection, pod("web", kNode, true));
  apply(collection, pod("elsewhere", "another-node", false));
  std::vector<std::string> changes;
  KubeNodePods pods(*agent_, kNode, [&](const std::string& uid) { changes.push_back(uid); });
  spawn(io_, pods.run(), "node pods");
  ASSERT_TRUE(runUntil([&] { return pods.synced(); })) << pods.reflectorStats().last_error;
  ASSERT_EQ(pods.pods().size(), 1u) << "the field selector keeps other nodes' pods out";
  NodePod web = pods.pods()[0];
  EXPECT_EQ(web.key(), kNs + "/web");
  EXPECT_EQ(web.uid, get("web")["metadata"]["uid"]);
  EXPECT_EQ(web.qos, QosClass::kBurstable) << "the API server sets status.qosClass";
  EXPECT_TRUE(web.ips.empty());

  // What the kubelet reports once the sandbox runs.
  auto st = call(http::verb::patch, podPath("web") + "/status",
                 {{"status",
                   {{"phase", "Running"},
                    {"podIP", "10.244.9.5"},
                    {"podIPs", json::array({{{"ip", "10.244.9.5"}}})}}}},
                 "application/merge-patch+json");
  ASSERT_EQ(st.status, 200u) << st.body;
  ASSERT_TRUE(runUntil([&] {
    auto p = pods.pod(web.uid);
    return p && !p->ips.empty();
  }));
  EXPECT_EQ(pods.pod(web.uid)->ips[0].toString(), "10.244.9.5");
  EXPECT_EQ(pods.pod(web.uid)->phase, "Running");

  auto del = call(http::verb::delete_, podPath("web") + "?gracePeriodSeconds=0");
  ASSERT_EQ(del.status, 200u) << del.body;
  ASSERT_TRUE(runUntil([&] { return !pods.pod(web.uid); }));
  EXPECT_EQ(pods.stats().rejected, 0u) << pods.stats().last_rejection;
  pods.stop();
  io_.run_for(std::chrono::milliseconds(100));
}

TEST_F(KubeNodePodsK8sTest, AnnotationIsWrittenAndRemovedWithTheAgentsRbacOnly) {
  const std::string collection = "/api/v1/namespaces/" + kNs + "/pods";
  apply(collection, pod("db", kNode, false));
  std::string uid = get("db")["metadata"].value("uid", "");
  ASSERT_FALSE(uid.empty());
  RedirectionAnnotator annotator(*agent_, {std::chrono::milliseconds(50), std::chrono::seconds(1)});
  annotator.set(uid, kNs, "db", true);
  ASSERT_TRUE(runUntil([&] { return annotator.idle(); }));
  EXPECT_EQ(annotator.applied(uid), true) << annotator.stats().last_error;
  EXPECT_EQ(get("db")["metadata"]["annotations"][kRedirectionAnnotation], "enabled");

  annotator.set(uid, kNs, "db", false);
  ASSERT_TRUE(runUntil([&] { return annotator.idle(); }));
  EXPECT_EQ(annotator.applied(uid), false) << annotator.stats().last_error;
  json after = get("db");
  EXPECT_FALSE(after["metadata"].contains("annotations") &&
               after["metadata"]["annotations"].contains(kRedirectionAnnotation));

  // Recreated under the same name: a wish for the old uid must not touch the new pod.
  auto del = call(http::verb::delete_, podPath("db") + "?gracePeriodSeconds=0");
  ASSERT_EQ(del.status, 200u) << del.body;
  apply(collection, pod("db", kNode, false));
  annotator.set(uid, kNs, "db", true);
  ASSERT_TRUE(runUntil([&] { return annotator.idle(); }, std::chrono::seconds(30)));
  json recreated = get("db");
  EXPECT_NE(recreated["metadata"]["uid"], uid);
  EXPECT_FALSE(recreated["metadata"].contains("annotations") &&
               recreated["metadata"]["annotations"].contains(kRedirectionAnnotation))
      << recreated.dump();
  EXPECT_NE(annotator.applied(uid), true);

  annotator.set("no-such-uid", kNs, "never-existed", true);
  ASSERT_TRUE(runUntil([&] { return annotator.idle(); }));
  EXPECT_GE(annotator.stats().gone, 1u) << "404 means the pod is gone: done, not retried";
  annotator.stop();
  io_.run_for(std::chrono::milliseconds(100));
}

// The uninstall check of `ambit-agent --daemonset` (uninstall.h): an existing DaemonSet keeps
// the capture, a deleted one means uninstall, a malformed name is an error, not a guess.
TEST_F(KubeNodePodsK8sTest, DaemonSetGoneTellsAnUninstallFromAStop) {
  const std::string kubeconfig = clusterRoot() + "/kubeconfig";
  const std::string collection = "/apis/apps/v1/namespaces/" + kNs + "/daemonsets";
  json labels = {{"app", "ambit-node"}};
  apply(collection,
        {{"metadata", {{"name", "ambit-node"}}},
         {"spec",
          {{"selector", {{"matchLabels", labels}}},
           {"template",
            {{"metadata", {{"labels", labels}}},
             {"spec", {{"containers", {{{"name", "a"}, {"image", "example.invalid/a:1"}}}}}}}}}}});
  auto present = daemonSetGone(kubeconfig, kNs + "/ambit-node");
  ASSERT_TRUE(present) << present.error().message;
  EXPECT_FALSE(*present);

  auto del = call(http::verb::delete_, collection + "/ambit-node");
  ASSERT_EQ(del.status, 200u) << del.body;
  auto gone = daemonSetGone(kubeconfig, kNs + "/ambit-node");
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_TRUE(*gone);

  // Credentials the API server no longer accepts (the uninstall deleted the ServiceAccount):
  // nothing will adopt the capture either.
  std::ifstream admin(kubeconfig);
  json revoked = json::parse(admin);
  revoked["users"][0]["user"] = {{"token", "revoked"}};
  const std::string revoked_path = clusterRoot() + "/revoked.kubeconfig";
  std::ofstream(revoked_path) << revoked.dump();
  auto unauthorized = daemonSetGone(revoked_path, kNs + "/ambit-node");
  ASSERT_TRUE(unauthorized) << unauthorized.error().message;
  EXPECT_TRUE(*unauthorized);

  for (const std::string& bad :
       {std::string("ambit-node"), std::string("/ambit-node"), kNs + "/"}) {
    auto r = daemonSetGone(kubeconfig, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("expected NAMESPACE/NAME"), std::string::npos);
  }
}

}  // namespace
}  // namespace ambit::agent
