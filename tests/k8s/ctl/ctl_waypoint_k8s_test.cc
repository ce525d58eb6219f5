// `ambitctl waypoint` in Kubernetes mode (--kubeconfig) against a real kube-apiserver: apply
// creates the Gateway (server-side apply, idempotent) and labels the namespace, list and status
// read it back (Programmed once a status address exists, as ambit-control writes it), delete
// removes it.
#include <gtest/gtest.h>

#include "tests/k8s/support/k8s_cluster.h"
#include "tests/support/subprocess.h"

namespace ambit {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

class CtlWaypointK8sTest : public test::KubeClusterTest {
 protected:
  static void SetUpTestSuite() { startCluster("ambitctl-k8s"); }
  static void TearDownTestSuite() { stopCluster(); }

  test::CommandOutput ambitctl(std::vector<std::string> args) {
    args.insert(args.begin(), test::binary("ambitctl"));
    args.push_back("--kubeconfig");
    args.push_back(clusterRoot() + "/kubeconfig");
    return test::run(args, std::chrono::seconds(60));
  }

  // The Gateway kind as a minimal CRD, as the control tests serve it.
  void serveGateways() {
    json crd = json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1",
      "kind":"CustomResourceDefinition",
      "metadata":{"name":"gateways.gateway.networking.k8s.io",
        "annotations":{"api-approved.kubernetes.io":"unapproved, test-only copy"}},
      "spec":{"group":"gateway.networking.k8s.io","scope":"Namespaced",
        "names":{"plural":"gateways","singular":"gateway","kind":"Gateway","listKind":"GatewayList"},
        "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
          "schema":{"openAPIV3Schema":{"type":"object",
            "x-kubernetes-preserve-unknown-fields":true}}}]}})");
    auto c = call(http::verb::post, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    ASSERT_TRUE(c.status == 201 || c.status == 409) << c.body;
    for (int i = 0; i < 100; ++i) {  // the CRD takes a moment to be served
      if (call(http::verb::get, "/apis/gateway.networking.k8s.io/v1/gateways").status == 200) {
        return;
      }
      io_.run_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the Gateway CRD is not served";
  }
};

TEST_F(CtlWaypointK8sTest, ApplyListStatusDelete) {
  serveGateways();
  createNamespace("shop");
  const std::string path = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways/wp";

  auto apply = ambitctl(
      {"waypoint", "apply", "-n", "shop", "--name", "wp", "--for", "all", "--enroll-namespace"});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_EQ(apply.out, "waypoint shop/wp applied\n");
  auto got = call(http::verb::get, path);
  ASSERT_EQ(got.status, 200u) << got.body;
  json gw = json::parse(got.body);
  EXPECT_EQ(gw["spec"]["gatewayClassName"], "istio-waypoint");
  EXPECT_EQ(gw["spec"]["listeners"][0]["port"], 15008);
  EXPECT_EQ(gw["spec"]["listeners"][0]["protocol"], "HBONE");
  EXPECT_EQ(gw["metadata"]["labels"]["istio.io/waypoint-for"], "all");
  json ns = json::parse(call(http::verb::get, "/api/v1/namespaces/shop").body);
  EXPECT_EQ(ns["metadata"]["labels"]["istio.io/use-waypoint"], "wp");

  // Apply again: an update, not a conflict.
  apply = ambitctl({"waypoint", "apply", "-n", "shop", "--name", "wp", "--for", "workload"});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  gw = json::parse(call(http::verb::get, path).body);
  EXPECT_EQ(gw["metadata"]["labels"]["istio.io/waypoint-for"], "workload");

  auto list = ambitctl({"waypoint", "list", "-n", "shop"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "NAME TRAFFIC TYPE PROGRAMMED\nwp   workload     False\n");
  auto status = ambitctl({"waypoint", "status", "-n", "shop", "--name", "wp"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("shop      wp   False  Programmed Pending"), std::string::npos)
      << status.out;

  // ambit-control records the waypoint Service's address in the status: programmed.
  auto patched =
      call(http::verb::patch, path + "/status",
           {{"status", {{"addresses", {{{"type", "IPAddress"}, {"value", "10.96.5.5"}}}}}}},
           "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200u) << patched.body;
  status = ambitctl({"waypoint", "status", "-n", "shop", "--name", "wp", "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json rows = json::parse(status.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0]["programmed"].get<bool>());
  EXPECT_NE(rows[0]["message"].get<std::string>().find("10.96.5.5"), std::string::npos);
  list = ambitctl({"waypoint", "list", "-A"});
  EXPECT_NE(list.out.find("shop      wp   workload     True"), std::string::npos) << list.out;

  auto del = ambitctl({"waypoint", "delete", "-n", "shop", "--name", "wp"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(call(http::verb::get, path).status, 404u);
  del = ambitctl({"waypoint", "delete", "-n", "shop", "--name", "wp"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_NE(del.err.find("no waypoint wp in namespace shop"), std::string::npos) << del.err;
  list = ambitctl({"waypoint", "list", "-n", "shop"});
  EXPECT_EQ(list.out, "No waypoints found in namespace shop.\n");
}

TEST_F(CtlWaypointK8sTest, AnUnreadableKubeconfigIsNamed) {
  auto r = test::run(
      {test::binary("ambitctl"), "waypoint", "list", "--kubeconfig", "/nonexistent/kubeconfig"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--kubeconfig"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ambit
