// PodReconciler through fakes of what it drives (capture maps, pod netns, hand-off): enroll,
// de-enroll, relabel in place, an identity change re-handed off, opt-out, the bypass
// annotations, failures reported by pod and retried, and adoption of a previous agent's pins.
#include "agent/pod_reconciler.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/config/loader.h"
#include "tests/unit/agent/pod_fakes.h"

namespace ambit::agent {
namespace {

using testing::FakeCapture;
using testing::FakeHandoff;
using testing::FakeNetns;

constexpr char kNamespaces[] = R"(
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio.io/dataplane-mode: ambient}}
)";

// A pod on node1 in namespace default; `extra_metadata` goes into its metadata block.
std::string podYaml(const std::string& name, const std::string& ip,
                    const std::string& extra_metadata = "", const std::string& sa = "web") {
  return "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\n  namespace: default\n  annotations: {ambit.dev/netns: /run/netns/" + name + "}\n" +
         extra_metadata + "spec: {nodeName: node1, serviceAccountName: " + sa +
         "}\nstatus: {podIP: " + ip + "}\n";
}

EnrollmentPlan plan(const std::string& pods_yaml) {
  config::LoadResult r = config::translate({{"t.yaml", kNamespaces + pods_yaml}});
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  return planEnrollment(r.snapshot, "node1");
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    netns.cookies["/run/netns/web"] = 101;
    netns.cookies["/run/netns/db"] = 102;
  }
  std::vector<std::string> reconcile(const std::string& pods_yaml) {
    return reconciler.reconcile(plan(pods_yaml));
  }

  FakeCapture capture;
  FakeNetns netns;
  FakeHandoff handoff;
  PodReconciler reconciler{capture, netns, handoff, {*bpf::IpAddr::parse("169.254.7.127")}};
};

TEST_F(ReconcilerTest, EnrolledPodIsSteeredAndHandedOffAndCapturedOnceServed) {
  EXPECT_TRUE(reconcile(podYaml("web", "10.0.0.5")).empty());
  EXPECT_EQ(capture.inbound_ips["default_web"], std::vector<std::string>{"10.0.0.5"});
  EXPECT_EQ(capture.inbound_config["default_web"].probe_sources.size(), 1u);
  ASSERT_TRUE(handoff.pods.count("default/web"));
  const v1::PodInfo& info = handoff.pods["default/web"];
  EXPECT_EQ(info.service_account(), "web");
  EXPECT_EQ(info.addresses(0), "10.0.0.5");
  EXPECT_TRUE(info.preserve_source());
  EXPECT_TRUE(netns.routed.count("/run/netns/web"));
  EXPECT_TRUE(capture.outbound.empty()) << "no outbound capture before the ztunnel listens";

  reconciler.onServed("default/web");
  EXPECT_TRUE(capture.outbound.count(101));
  EXPECT_EQ(reconciler.stats().enrolled_pods, 1u);
}

TEST_F(ReconcilerTest, PodThatLeavesTheMeshIsBackOnPlainNetworking) {
  (void)reconcile(podYaml("web", "10.0.0.5") + podYaml("db", "10.0.0.6"));
  reconciler.onServed("default/web");
  EXPECT_TRUE(reconcile(podYaml("db", "10.0.0.6")).empty());
  EXPECT_FALSE(capture.outbound.count(101));
  EXPECT_FALSE(capture.inbound_ips.count("default_web"));
  EXPECT_FALSE(handoff.pods.count("default/web"));
  EXPECT_FALSE(netns.routed.count("/run/netns/web"));
  EXPECT_TRUE(handoff.pods.count("default/db")) << "the other pod is untouched";
  EXPECT_EQ(reconciler.stats().enrolled_pods, 1u);
}

TEST_F(ReconcilerTest, OptedOutPodIsNotEnrolledAndLeftoverRoutingIsRemoved) {
  netns.routed.insert("/run/netns/web");  // left by a previous agent
  EXPECT_TRUE(
      reconcile(podYaml("web", "10.0.0.5", "  labels: {istio.io/dataplane-mode: none}\n")).empty());
  EXPECT_TRUE(handoff.pods.empty());
  EXPECT_TRUE(capture.inbound_ips.empty());
  EXPECT_FALSE(netns.routed.count("/run/netns/web"));
}

TEST_F(ReconcilerTest, BypassAnnotationsReachTheCaptureConfig) {
  const std::string annotated =
      "  labels: {}\n"
      "  annotations:\n"
      "    ambit.dev/netns: /run/netns/web\n"
      "    ambit.dev/bypass-inbound-ports: \"8081, 9090\"\n"
      "    ambit.dev/bypass-outbound-cidrs: \"169.254.0.0/16\"\n";
  std::string yaml =
      "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\n" + annotated +
      "spec: {nodeName: node1, serviceAccountName: web}\nstatus: {podIP: 10.0.0.5}\n";
  ASSERT_TRUE(reconcile(yaml).empty());
  EXPECT_EQ(capture.inbound_config["default_web"].bypass_ports,
            (std::vector<uint16_t>{8081, 9090}));
  reconciler.onServed("default/web");
  ASSERT_TRUE(capture.outbound.count(101));
  EXPECT_EQ(capture.outbound[101].bypass_cidrs,
            std::vector<bpf::Cidr>{*bpf::Cidr::parse("169.254.0.0/16")});
}

TEST_F(ReconcilerTest, RelabelledPodIsUpdatedInPlaceWithoutAGap) {
  (void)reconcile(podYaml("web", "10.0.0.5", "  labels: {version: v1}\n"));
  reconciler.onServed("default/web");
  const int unenrolls = capture.unenroll_calls;
  EXPECT_TRUE(reconcile(podYaml("web", "10.0.0.5", "  labels: {version: v2}\n")).empty());
  EXPECT_EQ(handoff.log, std::vector<std::string>{"upsert default/web"}) << "nothing re-sent";
  EXPECT_EQ(capture.unenroll_calls, unenrolls);
  EXPECT_TRUE(capture.outbound.count(101)) << "captured throughout";
}

TEST_F(ReconcilerTest, IdentityChangeIsHandedOffAgainAndCapturedOnceServedAgain) {
  (void)reconcile(podYaml("web", "10.0.0.5"));
  reconciler.onServed("default/web");
  (void)reconcile(podYaml("web", "10.0.0.5", "", "web-v2"));
  EXPECT_EQ(handoff.log, (std::vector<std::string>{"upsert default/web", "remove default/web",
                                                   "upsert default/web"}));
  EXPECT_EQ(handoff.pods["default/web"].service_account(), "web-v2");
  EXPECT_FALSE(capture.outbound.count(101)) << "off until the ztunnel serves the new identity";
  reconciler.onServed("default/web");
  EXPECT_TRUE(capture.outbound.count(101));
}

TEST_F(ReconcilerTest, FailingPodIsReportedByNameOthersProceedAndItIsRetried) {
  netns.cookies.erase("/run/netns/web");  // not created yet
  auto problems = reconcile(podYaml("web", "10.0.0.5") + podYaml("db", "10.0.0.6"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("pod default/web"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("/run/netns/web"), std::string::npos) << problems[0];
  EXPECT_TRUE(handoff.pods.count("default/db"));
  EXPECT_EQ(reconciler.stats().pod_errors, 1u);

  netns.cookies["/run/netns/web"] = 101;
  EXPECT_TRUE(reconcile(podYaml("web", "10.0.0.5") + podYaml("db", "10.0.0.6")).empty());
  EXPECT_TRUE(handoff.pods.count("default/web"));
}

TEST_F(ReconcilerTest, WithoutReplyRoutingTheZtunnelIsToldToUseLoopback) {
  netns.routing_fails = true;
  EXPECT_TRUE(reconcile(podYaml("web", "10.0.0.5")).empty());
  EXPECT_FALSE(handoff.pods["default/web"].preserve_source());
}

TEST_F(ReconcilerTest, RestartAdoptsPinnedStateAndRemovesLeftovers) {
  // What a previous agent pinned: web captured, plus a pod that has gone since.
  capture.outbound[101] = {};
  capture.outbound[999] = {};
  capture.inbound_ips["default_web"] = {"10.0.0.5"};
  capture.inbound_ips["default_gone"] = {"10.0.0.9"};

  EXPECT_TRUE(reconcile(podYaml("web", "10.0.0.5")).empty());
  EXPECT_TRUE(capture.outbound.count(101)) << "kept captured without waiting for the ztunnel";
  EXPECT_FALSE(capture.outbound.count(999));
  EXPECT_TRUE(capture.inbound_ips.count("default_web"));
  EXPECT_FALSE(capture.inbound_ips.count("default_gone"));
  EXPECT_TRUE(handoff.pods.count("default/web"));
}

TEST_F(ReconcilerTest, LeftoversAreOnlyRemovedOnTheFirstReconcile) {
  (void)reconcile(podYaml("web", "10.0.0.5"));
  capture.inbound_ips["default_other"] = {"10.0.0.9"};  // not ours to judge after start-up
  (void)reconcile(podYaml("web", "10.0.0.5"));
  EXPECT_TRUE(capture.inbound_ips.count("default_other"));
}

TEST(PodReconciler, PodIdsAreValidBpffsNames) {
  EXPECT_EQ(PodReconciler::podId("default/my.app-1"), "default_my_app-1");
}

TEST_F(ReconcilerTest, OnlyServiceAccountsOfThisNodesPodsMayGetIdentities) {
  config::LoadResult r = config::translate(
      {{"t.yaml", std::string(kNamespaces) + podYaml("web", "10.0.0.5") +
                      "---\napiVersion: v1\nkind: Pod\nmetadata: {name: far, namespace: default}\n"
                      "spec: {nodeName: node2, serviceAccountName: far}\n"
                      "status: {podIP: 10.0.0.7}\n"}});
  NodeConfig config =
      planNode(std::make_shared<const v1::MeshSnapshot>(std::move(r.snapshot)), "node1");
  EXPECT_TRUE(config.plan.pods.count("default/web")) << "planNode plans the node's enrollment";
  reconciler.setNodeIdentities(
      std::make_shared<const std::set<std::string>>(std::move(config.identities)));
  EXPECT_TRUE(reconciler.mayHaveIdentity("default", "web"));
  EXPECT_FALSE(reconciler.mayHaveIdentity("default", "far"));
}

}  // namespace
}  // namespace ambit::agent
