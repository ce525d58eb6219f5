// The pure parts of the lab's Kubernetes mode: pods added after `up`, the state it records, the
// kubelet-layout cgroup paths, the daemons' flags, the kubeconfigs it writes and the relay's
// address parsing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cli/lab/api_relay.h"
#include "cli/lab/kube_api.h"
#include "cli/lab/kube_lab.h"
#include "cli/lab/lab.h"
#include "cli/lab/state.h"
#include "common/kube/rest_config.h"
#include "tests/support/temp_dir.h"

namespace ambit::lab {
namespace {

using testing::HasSubstr;

LabOptions kubeOptions() {
  LabOptions o;
  o.name = "kt";
  o.kubernetes = true;
  o.kubeconfig = "/admin.kubeconfig";
  o.daemons = kubernetesNodeDaemons();
  return o;
}

TEST(LabKube, ExtraPodsFollowTheNodesPodsWithTheirOwnIdentity) {
  LabOptions o = kubeOptions();
  o.extra_pods = {ExtraPod{
      .name = "late", .node = "node2", .namespace_name = "shop", .labels = {{"app", "late"}}}};
  auto t = buildTopology(o);
  ASSERT_TRUE(t) << t.error().message;
  const PodSpec* p = t->findPod("late");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->node, "node2");
  EXPECT_EQ(p->namespace_name, "shop");
  EXPECT_EQ(p->service_account, "late");  // defaults to the pod's name
  EXPECT_EQ(p->ipv4, "10.244.2.11");      // my-app-v2 has .10 on node2
  EXPECT_EQ(p->netns, "kt-pod-late");
}

TEST(LabKube, ExtraPodsAreValidated) {
  LabOptions o = kubeOptions();
  o.extra_pods = {ExtraPod{.name = "late", .node = "node9"}};
  auto t = buildTopology(o);
  ASSERT_FALSE(t);
  EXPECT_THAT(t.error().message, HasSubstr("node9"));
  o.extra_pods = {ExtraPod{.name = "client", .node = "node1"}};
  t = buildTopology(o);
  ASSERT_FALSE(t);
  EXPECT_THAT(t.error().message, HasSubstr("already has a pod 'client'"));
  o.extra_pods = {ExtraPod{.name = "Bad_Name", .node = "node1"}};
  EXPECT_FALSE(buildTopology(o));
}

TEST(LabKube, PodCgroupsFollowTheKubeletLayout) {
  auto t = buildTopology(kubeOptions());
  ASSERT_TRUE(t);
  PodSpec p = *t->findPod("my-app-v2");
  p.uid = "0b5e-uid";
  EXPECT_EQ(podCgroup("/sys/fs/cgroup", *t, p),
            "/sys/fs/cgroup/kt-lab/node2/kubepods/burstable/pod0b5e-uid/app");
}

TEST(LabKube, AgentRunsInKubernetesModeBelowItsNodesKubeletRoot) {
  auto daemons = kubernetesNodeDaemons();
  ASSERT_EQ(daemons.size(), 2u);
  const auto& agent = daemons[0].args;
  EXPECT_THAT(agent, testing::Contains("--kubernetes"));
  auto flag = [&](const std::vector<std::string>& args, const std::string& name) {
    auto it = std::find(args.begin(), args.end(), name);
    return it == args.end() || it + 1 == args.end() ? std::string() : *(it + 1);
  };
  EXPECT_EQ(flag(agent, "--kubelet-cgroup-root"), "{kubelet_root}");
  EXPECT_EQ(flag(agent, "--discovery-address"), "{control_address}");
  EXPECT_EQ(flag(agent, "--token-file"), "{run_dir}/kube/{node}-ambit-token");
  EXPECT_EQ(flag(daemons[1].args, "--discovery-address"), "unix:{state_dir}/run/discovery.sock");
  Topology t;
  EXPECT_EQ(controlAddress(t), "172.30.0.1:15012");
  t.options.control_replicas = 2;
  EXPECT_EQ(controlAddress(t), "ipv4:172.30.0.1:15012,172.30.0.2:15012");
}

TEST(LabKube, WaypointPodIsDeployedByControlOnlyInKubernetesModeWithAWaypoint) {
  LabOptions o;
  o.name = "kt";
  o.waypoint = true;
  auto local = buildTopology(o);
  ASSERT_TRUE(local) << local.error().message;
  const PodSpec* wp = local->findPod(kWaypointName);
  ASSERT_NE(wp, nullptr);
  EXPECT_FALSE(deployedByControl(*local, *wp));
  o.kubernetes = true;
  o.kubeconfig = "/admin.kubeconfig";
  auto kube = buildTopology(o);
  ASSERT_TRUE(kube) << kube.error().message;
  wp = kube->findPod(kWaypointName);
  ASSERT_NE(wp, nullptr);
  EXPECT_TRUE(deployedByControl(*kube, *wp));
  EXPECT_FALSE(deployedByControl(*kube, *kube->findPod("client")));
  // Bound by the user with kubectl in Kubernetes mode, by the lab's YAML in local mode.
  for (const auto& s : kube->services) EXPECT_EQ(s.labels.count("istio.io/use-waypoint"), 0u);
  bool bound = false;
  for (const auto& s : local->services) bound |= s.labels.count("istio.io/use-waypoint") > 0;
  EXPECT_TRUE(bound);
}

TEST(LabKube, StateRecordsModeUidsAndExtraPods) {
  test::TempDir dir{"ambit-lab-kube"};
  LabState s;
  s.lab = "kt";
  s.nodes = 2;
  s.kubernetes = true;
  s.kubeconfig = "/admin.kubeconfig";
  s.pod_uids = {{"client", "uid-1"}};
  s.extra_pods = {ExtraPod{
      .name = "late", .node = "node2", .service_account = "sa", .labels = {{"app", "late"}}}};
  ASSERT_TRUE(saveState(dir.file("state.json"), s));
  auto back = loadState(dir.file("state.json"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(toJson(*back), toJson(s));
  EXPECT_TRUE(back->kubernetes);
  EXPECT_EQ(back->extra_pods.at(0).labels.at("app"), "late");
}

TEST(LabKube, KubeconfigReadsBackWithTokenFileAndCa) {
  test::TempDir dir{"ambit-lab-kube"};
  const std::string path = dir.file("agent.kubeconfig");
  std::ofstream(path) << renderKubeconfig("https://10.96.0.1:443", "-----CA-----\n",
                                          "/run/x/token");
  auto c = kube::loadKubeconfig(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->host, "10.96.0.1");
  EXPECT_EQ(c->port, "443");
  EXPECT_EQ(c->token_file, "/run/x/token");
  EXPECT_EQ(c->ca_pem, "-----CA-----\n");
}

TEST(LabKube, RelayAddressesAreHostAndPort) {
  auto v4 = splitHostPort("10.96.0.1:443", "--listen");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->first, "10.96.0.1");
  EXPECT_EQ(v4->second, 443);
  auto v6 = splitHostPort("[::1]:6443", "--upstream");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->first, "::1");
  for (const char* bad : {"10.96.0.1", ":443", "h:0", "h:70000", "h:44x"}) {
    auto r = splitHostPort(bad, "--listen");
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("--listen")) << bad;
  }
}

}  // namespace
}  // namespace ambit::lab
