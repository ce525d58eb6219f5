#include "agent/enrollment.h"

#include <gtest/gtest.h>

namespace ambit::agent {
namespace {

v1::Workload pod(const std::string& name, const std::string& node, bool enrolled,
                 std::vector<std::string> ips, const std::string& netns = "/run/netns/x") {
  v1::Workload w;
  w.set_uid("default/" + name);
  w.set_name(name);
  w.set_namespace_("default");
  w.set_node(node);
  w.set_enrolled(enrolled);
  w.set_netns_path(netns);
  w.set_service_account("sa");
  for (auto& ip : ips) w.add_addresses(ip);
  return w;
}

TEST(Enrollment, OnlyEnrolledPodsOfThisNode) {
  v1::MeshSnapshot s;
  *s.add_workloads() = pod("a", "node1", true, {"10.0.0.1"});
  *s.add_workloads() = pod("b", "node2", true, {"10.0.0.2"});
  *s.add_workloads() = pod("c", "node1", false, {"10.0.0.3"});
  auto plan = planEnrollment(s, "node1");
  ASSERT_EQ(plan.pods.size(), 1u);
  EXPECT_TRUE(plan.pods.count("default/a"));
  EXPECT_TRUE(plan.problems.empty());
}

TEST(Enrollment, PodWithoutNetnsOrIpIsReportedByNameAndOthersStay) {
  v1::MeshSnapshot s;
  *s.add_workloads() = pod("good", "node1", true, {"10.0.0.1"});
  *s.add_workloads() = pod("no-netns", "node1", true, {"10.0.0.2"}, "");
  *s.add_workloads() = pod("no-ip", "node1", true, {});
  auto plan = planEnrollment(s, "node1");
  EXPECT_EQ(plan.pods.size(), 1u);
  ASSERT_EQ(plan.problems.size(), 2u);
  EXPECT_NE(plan.problems[0].find("default/no-netns"), std::string::npos) << plan.problems[0];
  EXPECT_NE(plan.problems[0].find("ambit.dev/netns"), std::string::npos) << plan.problems[0];
  EXPECT_NE(plan.problems[1].find("default/no-ip"), std::string::npos) << plan.problems[1];
}

TEST(Enrollment, IpClaimedTwiceKeepsTheFirstAndNamesBoth) {
  v1::MeshSnapshot s;
  *s.add_workloads() = pod("first", "node1", true, {"10.0.0.1"});
  *s.add_workloads() = pod("second", "node1", true, {"10.0.0.1"});
  auto plan = planEnrollment(s, "node1");
  ASSERT_EQ(plan.pods.size(), 1u);
  EXPECT_TRUE(plan.pods.count("default/first"));
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("default/second"), std::string::npos);
  EXPECT_NE(plan.problems[0].find("default/first"), std::string::npos);
  EXPECT_NE(plan.problems[0].find("10.0.0.1"), std::string::npos);
}

TEST(Enrollment, DiffReportsAddedRemovedAndChanged) {
  std::map<std::string, EnrolledPod> current, desired;
  current["default/a"] = EnrolledPod{pod("a", "n", true, {"10.0.0.1"}), "/run/netns/x"};
  current["default/b"] = EnrolledPod{pod("b", "n", true, {"10.0.0.2"}), "/run/netns/x"};
  desired["default/b"] = EnrolledPod{pod("b", "n", true, {"10.0.0.9"}), "/run/netns/x"};  // changed
  desired["default/c"] = EnrolledPod{pod("c", "n", true, {"10.0.0.3"}), "/run/netns/x"};  // new
  auto d = diffEnrollment(current, desired);
  EXPECT_EQ(d.removed, (std::vector<std::string>{"default/a", "default/b"}));
  EXPECT_EQ(d.added, (std::vector<std::string>{"default/b", "default/c"}));
  auto none = diffEnrollment(desired, desired);
  EXPECT_TRUE(none.added.empty());
  EXPECT_TRUE(none.removed.empty());
  EXPECT_TRUE(none.updated.empty());
}

TEST(Enrollment, ChangeOutsideTheHandoffIsAnInPlaceUpdate) {
  std::map<std::string, EnrolledPod> current, desired;
  current["default/a"] = EnrolledPod{pod("a", "n", true, {"10.0.0.1"}), "/run/netns/x"};
  desired = current;
  (*desired["default/a"].workload.mutable_labels())["team"] = "x";
  desired["default/a"].workload.add_bypass_inbound_ports(9090);
  auto d = diffEnrollment(current, desired);
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.added.empty());
  EXPECT_EQ(d.updated, (std::vector<std::string>{"default/a"}));
  // A new netns or service account is a new hand-off: removed, then added again.
  desired["default/a"].netns_path = "/run/netns/y";
  d = diffEnrollment(current, desired);
  EXPECT_EQ(d.removed, (std::vector<std::string>{"default/a"}));
  EXPECT_EQ(d.added, (std::vector<std::string>{"default/a"}));
  EXPECT_TRUE(d.updated.empty());
}

}  // namespace
}  // namespace ambit::agent
