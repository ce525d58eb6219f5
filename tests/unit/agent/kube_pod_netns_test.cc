// Kubernetes-mode enrollment through the real PodReconciler and KubePodNetns over fakes of the
// node pod watch, the kubelet cgroups and the netns finder: a pod is pending (quietly) until the
// watch has seen it, the kubelet has created its cgroup and it has a process, then enrolled;
// hostNetwork pods are excluded; a refused namespace is a reported problem; the
// first-process-to-captured latency reaches the histogram; captures and releases are signalled
// (for the redirection annotation).
#include "agent/kube_pod_netns.h"

#include <gtest/gtest.h>

#include "agent/pod_reconciler.h"
#include "common/admin/metrics.h"
#include "tests/unit/agent/pod_fakes.h"

namespace ambit::agent {
namespace {

using namespace std::chrono_literals;

class FakePods final : public NodePodSource {
 public:
  std::map<std::string, NodePod> pods;
  std::optional<NodePod> pod(const std::string& uid) const override {
    auto it = pods.find(uid);
    if (it == pods.end()) return std::nullopt;
    return it->second;
  }
};

class FakeCgroups final : public PodCgroupLocator {
 public:
  std::map<std::string, std::string> dirs;  // uid -> cgroup dir
  mutable std::vector<QosClass> asked;
  Result<std::optional<std::string>> locate(std::string_view uid, QosClass qos) const override {
    asked.push_back(qos);
    auto it = dirs.find(std::string(uid));
    if (it == dirs.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
};

// A cgroup dir with a process has a netns path (opened through FakeNetns) or a refusal.
class FakeFinder final : public PodNetnsFinder {
 public:
  explicit FakeFinder(testing::FakeNetns& netns) : netns_(netns) {}
  std::map<std::string, std::string> netns_of;  // cgroup dir -> netns path
  std::map<std::string, std::string> refusal;   // cgroup dir -> error
  std::vector<std::string> checked_ips;

  Result<std::optional<FoundNetns>> find(const std::string& dir,
                                         const std::vector<bpf::IpAddr>& ips) override {
    for (const auto& ip : ips) checked_ips.push_back(ip.toString());
    if (refusal.count(dir)) return makeError("{}", refusal.at(dir));
    if (!netns_of.count(dir)) return std::optional<FoundNetns>();
    auto fd = netns_.open(netns_of.at(dir));
    if (!fd) return fd.error();
    uint64_t cookie = *netns_.cookie(fd->get());
    return std::optional<FoundNetns>(FoundNetns{std::move(*fd), cookie, 4242, 10s});
  }

 private:
  testing::FakeNetns& netns_;
};

// Marks by cgroup dir; records whether the pod's netns was still captured when unmarked.
class FakeMarker final : public PodCgroupMarker {
 public:
  explicit FakeMarker(const testing::FakeCapture& capture) : capture_(capture) {}
  std::map<uint64_t, std::string> marks;  // id -> why (for the reader)
  std::vector<bool> captured_at_unmark;
  Result<uint64_t> cgroupId(const std::string& dir) override {
    return static_cast<uint64_t>(std::hash<std::string>{}(dir));
  }
  Status mark(uint64_t id) override {
    marks[id] = "marked";
    return Status::ok();
  }
  Status unmark(uint64_t id) override {
    captured_at_unmark.push_back(!capture_.outbound.empty());
    marks.erase(id);
    return Status::ok();
  }
  Result<std::vector<uint64_t>> marked() override {
    std::vector<uint64_t> ids;
    for (const auto& [id, why] : marks) ids.push_back(id);
    return ids;
  }

 private:
  const testing::FakeCapture& capture_;
};

v1::Workload workload(const std::string& uid, const std::string& name, const std::string& ip) {
  v1::Workload w;
  w.set_uid(uid);
  w.set_name(name);
  w.set_namespace_("shop");
  w.set_node("node1");
  w.set_service_account("web");
  w.add_addresses(ip);
  w.set_enrolled(true);
  return w;
}

NodePod nodePod(const std::string& uid, const std::string& name) {
  NodePod p;
  p.uid = uid;
  p.name_space = "shop";
  p.name = name;
  p.node = "node1";
  p.qos = QosClass::kBurstable;
  return p;
}

class KubePodNetnsTest : public ::testing::Test {
 protected:
  KubePodNetnsTest() { netns.cookies["/proc/4242/ns/net"] = 501; }

  std::vector<std::string> reconcile(std::vector<v1::Workload> ws) {
    v1::MeshSnapshot s;
    for (auto& w : ws) *s.add_workloads() = w;
    return reconciler.reconcile(planEnrollment(s, "node1", NetnsSource::kResolver));
  }

  testing::FakeCapture capture;
  testing::FakeNetns netns;
  testing::FakeHandoff handoff;
  FakePods pods;
  FakeCgroups cgroups;
  FakeFinder finder{netns};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::chrono::nanoseconds now{10s + 250ms};
  std::vector<std::string> changes;
  FakeMarker marker{capture};
  KubePodNetns resolver{pods,
                        cgroups,
                        finder,
                        *registry,
                        [this](const std::string& uid, const std::string& ns,
                               const std::string& name, bool captured) {
                          changes.push_back(fmt::format("{} {}/{} {}", uid, ns, name, captured));
                        },
                        [this] { return now; },
                        &marker};
  PodReconciler reconciler{capture, netns, handoff, {}, &resolver};
};

TEST_F(KubePodNetnsTest, PodIsPendingUntilItsProcessExistsThenEnrolledAndMeasured) {
  const auto web = workload("uid-1", "web", "10.244.1.5");
  EXPECT_TRUE(reconcile({web}).empty()) << "the node watch has not seen it: pending, no problem";
  EXPECT_EQ(reconciler.stats().pending, std::vector<std::string>{"uid-1"});

  pods.pods["uid-1"] = nodePod("uid-1", "web");
  EXPECT_TRUE(reconcile({web}).empty()) << "no cgroup yet";
  EXPECT_EQ(cgroups.asked.back(), QosClass::kBurstable) << "the QoS class picks the cgroup";

  EXPECT_TRUE(marker.marks.empty()) << "nothing to hold back before the cgroup exists";
  cgroups.dirs["uid-1"] = "/cg/kubepods/burstable/poduid-1";
  EXPECT_TRUE(reconcile({web}).empty()) << "no process yet";
  EXPECT_EQ(marker.marks.size(), 1u) << "held back (fail closed) as soon as its cgroup exists";
  EXPECT_EQ(reconciler.stats().pending, std::vector<std::string>{"uid-1"});
  EXPECT_TRUE(handoff.pods.empty());

  finder.netns_of["/cg/kubepods/burstable/poduid-1"] = "/proc/4242/ns/net";
  EXPECT_TRUE(reconcile({web}).empty());
  EXPECT_TRUE(reconciler.stats().pending.empty());
  EXPECT_EQ(finder.checked_ips.back(), "10.244.1.5") << "the namespace is checked for the pod IP";
  ASSERT_TRUE(handoff.pods.count("uid-1"));
  EXPECT_EQ(capture.inbound_ips["uid-1"], std::vector<std::string>{"10.244.1.5"});
  EXPECT_EQ(resolver.pidOf("uid-1"), 4242);
  EXPECT_TRUE(changes.empty()) << "not captured before the ztunnel serves it";

  reconciler.onServed("uid-1");
  EXPECT_TRUE(capture.outbound.count(501));
  EXPECT_EQ(changes, std::vector<std::string>{"uid-1 shop/web true"});
  std::string metrics = admin::renderMetrics(*registry);
  EXPECT_NE(metrics.find("ambit_agent_pod_enroll_seconds_count 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ambit_agent_pod_enroll_seconds_sum 0.25"), std::string::npos) << metrics;

  EXPECT_EQ(marker.marks.size(), 1u) << "still marked while enrolled";
  EXPECT_TRUE(reconcile({}).empty());
  EXPECT_FALSE(capture.outbound.count(501));
  EXPECT_FALSE(handoff.pods.count("uid-1"));
  EXPECT_TRUE(marker.marks.empty());
  EXPECT_EQ(marker.captured_at_unmark, std::vector<bool>{true})
      << "unmarked before its netns left the capture: no refused connect on the way out";
  EXPECT_EQ(changes.back(), "uid-1 shop/web false");
  EXPECT_EQ(resolver.pidOf("uid-1"), 0);
}

TEST_F(KubePodNetnsTest, HostNetworkPodIsExcludedNotRetriedAsAProblem) {
  auto host = nodePod("uid-h", "node-exporter");
  host.host_network = true;
  pods.pods["uid-h"] = host;
  cgroups.dirs["uid-h"] = "/cg/kubepods/besteffort/poduid-h";
  EXPECT_TRUE(reconcile({workload("uid-h", "node-exporter", "172.30.0.11")}).empty());
  EXPECT_TRUE(reconciler.stats().pending.empty());
  EXPECT_TRUE(handoff.pods.empty());
  EXPECT_TRUE(capture.inbound_ips.empty());
  EXPECT_TRUE(finder.checked_ips.empty()) << "never looked for";
  EXPECT_TRUE(marker.marks.empty()) << "never held back";
}

TEST_F(KubePodNetnsTest, RefusedNamespaceIsAProblemOfThatPodOnly) {
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  pods.pods["uid-2"] = nodePod("uid-2", "db");
  cgroups.dirs["uid-1"] = "/cg/a";
  cgroups.dirs["uid-2"] = "/cg/b";
  finder.refusal["/cg/a"] = "pid 7 in /cg/a: its network namespace does not hold pod IP 10.244.1.5";
  finder.netns_of["/cg/b"] = "/proc/4242/ns/net";
  auto problems =
      reconcile({workload("uid-1", "web", "10.244.1.5"), workload("uid-2", "db", "10.244.1.6")});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("pod shop/web"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("does not hold pod IP"), std::string::npos) << problems[0];
  EXPECT_TRUE(handoff.pods.count("uid-2"));
  EXPECT_FALSE(handoff.pods.count("uid-1"));
  EXPECT_TRUE(reconciler.stats().pending.empty()) << "refused is not pending";
}

TEST_F(KubePodNetnsTest, PendingPodThatLeavesThePlanIsForgottenAndReleased) {
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  cgroups.dirs["uid-1"] = "/cg/kubepods/burstable/poduid-1";
  EXPECT_TRUE(reconcile({workload("uid-1", "web", "10.244.1.5")}).empty());
  EXPECT_EQ(reconciler.stats().pending.size(), 1u);
  EXPECT_EQ(marker.marks.size(), 1u);
  EXPECT_TRUE(reconcile({}).empty());
  EXPECT_TRUE(reconciler.stats().pending.empty());
  EXPECT_TRUE(marker.marks.empty()) << "a pod that left the mesh must not stay held back";
}

TEST_F(KubePodNetnsTest, EnrolledPodWhoseProcessesAreGoingIsStillUpdatedInPlace) {
  auto web = workload("uid-1", "web", "10.244.1.5");
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  cgroups.dirs["uid-1"] = "/cg/a";
  finder.netns_of["/cg/a"] = "/proc/4242/ns/net";
  ASSERT_TRUE(reconcile({web}).empty());
  finder.netns_of.clear();  // terminating: its processes are gone, the pod object is not
  web.add_bypass_inbound_ports(9090);
  EXPECT_TRUE(reconcile({web}).empty());
  EXPECT_TRUE(reconciler.stats().pending.empty()) << "an enrolled pod is not pending";
  EXPECT_EQ(capture.inbound_config["uid-1"].bypass_ports, std::vector<uint16_t>{9090})
      << "updated with the namespace kept since it was enrolled";
  EXPECT_EQ(handoff.log, std::vector<std::string>{"upsert uid-1"});
}

TEST_F(KubePodNetnsTest, MarksLeftByAPreviousAgentForPodsOutOfTheMeshAreRemoved) {
  marker.marks[7] = "left for a pod that left the mesh while no agent ran";
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  cgroups.dirs["uid-1"] = "/cg/kubepods/burstable/poduid-1";
  const uint64_t web_id = *marker.cgroupId("/cg/kubepods/burstable/poduid-1");
  marker.marks[web_id] = "left for a pod still in the mesh";
  EXPECT_TRUE(reconcile({workload("uid-1", "web", "10.244.1.5")}).empty());
  EXPECT_FALSE(marker.marks.count(7));
  EXPECT_TRUE(marker.marks.count(web_id)) << "the pending pod stays held back";
}

// The pod-startup race: the kubelet creates the pod's cgroup, then the sandbox, then starts the
// app, and reports the IP to the API server only after that. A pod in the mesh without an IP is
// held back (its connects refused) as soon as its cgroup exists, before any of its processes.
TEST_F(KubePodNetnsTest, PodWithoutAnIpIsHeldAsSoonAsItsCgroupExists) {
  auto web = workload("uid-1", "web", "10.244.1.5");
  web.clear_addresses();
  EXPECT_TRUE(reconcile({web}).empty()) << "no IP yet is not a problem";
  EXPECT_EQ(reconciler.stats().pending, std::vector<std::string>{"uid-1"})
      << "not in the node watch yet: asked again soon";
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  EXPECT_TRUE(reconcile({web}).empty());
  EXPECT_TRUE(marker.marks.empty()) << "no cgroup yet";
  EXPECT_EQ(reconciler.stats().pending, std::vector<std::string>{"uid-1"})
      << "waiting for its cgroup: asked again soon";

  cgroups.dirs["uid-1"] = "/cg/kubepods/burstable/poduid-1";
  EXPECT_TRUE(reconcile({web}).empty());
  EXPECT_EQ(marker.marks.size(), 1u) << "held back before the API server knows its IP";
  EXPECT_TRUE(reconciler.stats().pending.empty()) << "held: nothing to retry quickly";
  EXPECT_TRUE(finder.checked_ips.empty()) << "no netns looked for without an IP";
  EXPECT_TRUE(handoff.pods.empty());

  // The IP arrives: enrolled as usual, and the hold lasts until the pod is captured.
  web.add_addresses("10.244.1.5");
  finder.netns_of["/cg/kubepods/burstable/poduid-1"] = "/proc/4242/ns/net";
  EXPECT_TRUE(reconcile({web}).empty());
  ASSERT_TRUE(handoff.pods.count("uid-1"));
  EXPECT_EQ(marker.marks.size(), 1u) << "still held until captured and enrolled";
  reconciler.onServed("uid-1");
  EXPECT_TRUE(capture.outbound.count(501));
  EXPECT_TRUE(reconcile({}).empty());
  EXPECT_TRUE(marker.marks.empty());
}

TEST_F(KubePodNetnsTest, HeldPodThatGoesAwayBeforeItsIpIsReleased) {
  auto web = workload("uid-1", "web", "10.244.1.5");
  web.clear_addresses();
  pods.pods["uid-1"] = nodePod("uid-1", "web");
  cgroups.dirs["uid-1"] = "/cg/kubepods/burstable/poduid-1";
  EXPECT_TRUE(reconcile({web}).empty());
  EXPECT_EQ(marker.marks.size(), 1u);
  EXPECT_TRUE(reconcile({}).empty());
  EXPECT_TRUE(marker.marks.empty()) << "a deleted pod's cgroup must not stay held";
  EXPECT_TRUE(reconciler.stats().pending.empty());
}

TEST_F(KubePodNetnsTest, HostNetworkPodWithoutAnIpIsNeverHeld) {
  auto host = nodePod("uid-h", "node-exporter");
  host.host_network = true;
  pods.pods["uid-h"] = host;
  cgroups.dirs["uid-h"] = "/cg/kubepods/besteffort/poduid-h";
  auto w = workload("uid-h", "node-exporter", "172.30.0.11");
  w.clear_addresses();
  EXPECT_TRUE(reconcile({w}).empty());
  EXPECT_TRUE(marker.marks.empty());
  EXPECT_TRUE(reconciler.stats().pending.empty());
}

TEST(PlanEnrollment, PodWithoutAnIpAwaitsInResolverModeAndIsAProblemInLocalMode) {
  v1::MeshSnapshot s;
  auto w = workload("uid-1", "web", "10.244.1.5");
  w.clear_addresses();
  w.set_netns_path("/var/run/netns/web");
  *s.add_workloads() = w;
  auto kube = planEnrollment(s, "node1", NetnsSource::kResolver);
  EXPECT_TRUE(kube.pods.empty());
  EXPECT_TRUE(kube.problems.empty());
  ASSERT_EQ(kube.awaiting_ip.size(), 1u);
  EXPECT_EQ(kube.awaiting_ip[0].uid(), "uid-1");
  auto local = planEnrollment(s, "node1");
  EXPECT_TRUE(local.awaiting_ip.empty());
  ASSERT_EQ(local.problems.size(), 1u);
  EXPECT_NE(local.problems[0].find("no pod IP"), std::string::npos) << local.problems[0];
}

TEST(PlanEnrollment, ResolverModeNeedsNoNetnsAnnotation) {
  v1::MeshSnapshot s;
  *s.add_workloads() = workload("uid-1", "web", "10.244.1.5");
  EXPECT_EQ(planEnrollment(s, "node1", NetnsSource::kResolver).pods.size(), 1u);
  auto local = planEnrollment(s, "node1");
  EXPECT_TRUE(local.pods.empty());
  ASSERT_EQ(local.problems.size(), 1u);
  EXPECT_NE(local.problems[0].find("ambit.dev/netns"), std::string::npos);
}

}  // namespace
}  // namespace ambit::agent
