// `lab up --waypoint`: the waypoint pod, its command and the YAML that binds my-app to it,
// checked through the real config translator (what the ztunnels and the waypoint read).
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/lab/lab_yaml.h"
#include "common/config/loader.h"

namespace ambit::lab {
namespace {

Topology waypointLab() {
  LabOptions o;
  o.bin_dir = "/opt/bin";
  o.waypoint = true;
  auto t = buildTopology(o);
  EXPECT_TRUE(t.isOk());
  return *t;
}

TEST(LabWaypoint, WaypointPodRunsAmbitWaypointOnNode1) {
  Topology t = waypointLab();
  const PodSpec* p = t.findPod("waypoint");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->node, "node1");
  EXPECT_EQ(p->service_account, "waypoint");
  EXPECT_EQ(p->ipv4, "10.244.1.12");  // after client and my-app-v1: their addresses stay
  EXPECT_EQ(p->ready_port, 15008);
  ASSERT_FALSE(p->command.empty());
  EXPECT_EQ(p->command[0], "{bin_dir}/ambit-waypoint");
  EXPECT_NE(std::find(p->command.begin(), p->command.end(), "unix:{state_dir}/run/ca.sock"),
            p->command.end());
  LabOptions plain;
  auto t2 = buildTopology(plain);
  ASSERT_TRUE(t2.isOk());
  EXPECT_EQ(t2->findPod("waypoint"), nullptr);
  EXPECT_EQ(renderConfig(*t2).count("40-waypoint.yaml"), 0u);
}

TEST(LabWaypoint, WaypointArgsGoToTheWaypointCommandOnly) {
  LabOptions o;
  o.waypoint = true;
  o.waypoint_args = {"--zipkin-address=10.244.1.10:9411", "--no-access-log"};
  auto t = buildTopology(o);
  ASSERT_TRUE(t.isOk()) << t.error().message;
  const PodSpec* p = t->findPod("waypoint");
  ASSERT_NE(p, nullptr);
  ASSERT_GE(p->command.size(), 2u);
  EXPECT_EQ(p->command[p->command.size() - 2], "--zipkin-address=10.244.1.10:9411");
  EXPECT_EQ(p->command.back(), "--no-access-log");
  for (const auto& other : t->pods) {
    if (other.name == "waypoint") continue;
    EXPECT_EQ(std::find(other.command.begin(), other.command.end(), "--no-access-log"),
              other.command.end())
        << other.name;
  }
  o.waypoint = false;
  auto refused = buildTopology(o);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.error().message.find(
                "--waypoint-arg '--zipkin-address=10.244.1.10:9411' needs --waypoint"),
            std::string::npos)
      << refused.error().message;
}

TEST(LabWaypoint, ConfigBindsMyAppToTheWaypoint) {
  std::vector<config::SourceDocument> docs;
  for (const auto& [name, content] : renderConfig(waypointLab())) docs.push_back({name, content});
  config::LoadResult r = config::translate(docs);
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  const v1::MeshSnapshot& s = r.snapshot;
  ASSERT_EQ(s.waypoints_size(), 1);
  EXPECT_EQ(s.waypoints(0).name(), "waypoint");
  ASSERT_GE(s.waypoints(0).addresses_size(), 1);
  EXPECT_EQ(s.waypoints(0).addresses(0), "10.244.1.12");
  for (const auto& svc : s.services()) {
    EXPECT_EQ(svc.waypoint(), svc.name() == "my-app" ? "default/waypoint" : "") << svc.name();
  }
  for (const auto& w : s.workloads()) {
    EXPECT_EQ(w.enrolled(), w.name() != "waypoint") << w.name();
  }
}

}  // namespace
}  // namespace ambit::lab
