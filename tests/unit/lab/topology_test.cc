#include "cli/lab/topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace ambit::lab {
namespace {

using testing::HasSubstr;

Topology build(LabOptions o = {}) {
  o.bin_dir = "/opt/bin";
  auto t = buildTopology(o);
  EXPECT_TRUE(t.isOk()) << t.error().message;
  return *t;
}

TEST(Topology, DefaultLabHasTwoNodesAndCanaryAcrossNodes) {
  Topology t = build();
  ASSERT_EQ(t.nodes.size(), 2u);
  EXPECT_EQ(t.nodes[0].name, "node1");
  EXPECT_EQ(t.nodes[0].netns, "ambit-node1");
  EXPECT_EQ(t.nodes[1].underlay_ipv4, "172.30.0.12");
  EXPECT_EQ(t.nodes[1].underlay_ipv6, "fd00:172:30::12");
  EXPECT_EQ(t.nodes[1].pod_cidr_v4, "10.244.2.0/24");
  EXPECT_EQ(t.nodes[1].gateway_v6, "fd00:10:244:2::1");
  EXPECT_EQ(t.underlay_netns, "ambit-underlay");
  EXPECT_EQ(t.options.run_dir, "/run/ambit-lab");
  EXPECT_EQ(t.options.config_dir, "/run/ambit-lab/config");
  EXPECT_EQ(t.state_file, "/run/ambit-lab/state.json");
  EXPECT_EQ(t.cgroup_subdir, "ambit-lab");

  const PodSpec* client = t.findPod("client");
  const PodSpec* v1 = t.findPod("my-app-v1");
  const PodSpec* v2 = t.findPod("my-app-v2");
  ASSERT_TRUE(client && v1 && v2);
  EXPECT_EQ(client->node, "node1");
  EXPECT_EQ(client->ipv4, "10.244.1.10");
  EXPECT_EQ(client->service_account, "client");
  EXPECT_EQ(v1->node, "node1");
  EXPECT_EQ(v1->ipv4, "10.244.1.11");
  EXPECT_EQ(v1->ipv6, "fd00:10:244:1::11");
  EXPECT_EQ(v1->version(), "v1");
  EXPECT_EQ(v2->node, "node2");
  EXPECT_EQ(v2->ipv4, "10.244.2.10");
  EXPECT_EQ(v2->netns, "ambit-pod-my-app-v2");
  EXPECT_EQ(v2->labels.at("app"), "my-app");
  EXPECT_EQ(v2->service_account, "my-app");
  EXPECT_EQ(client->version(), "latest");
}

TEST(Topology, AddressesAndInterfaceNamesAreUniqueAndShort) {
  LabOptions o;
  o.nodes = kMaxNodes;
  Topology t = build(o);
  std::set<std::string> ips, ports;
  for (const auto& n : t.nodes) {
    EXPECT_TRUE(ips.insert(n.underlay_ipv4).second);
    EXPECT_TRUE(ips.insert(n.underlay_ipv6).second);
    EXPECT_LE(n.underlay_port.size(), 15u);
  }
  for (const auto& p : t.pods) {
    EXPECT_TRUE(ips.insert(p.ipv4).second);
    EXPECT_TRUE(ips.insert(p.ipv6).second);
    EXPECT_TRUE(ports.insert(p.node + "/" + p.node_port).second);
    EXPECT_LE(p.node_port.size(), 15u);
  }
}

TEST(Topology, OneNodeLabPutsEveryPodOnNode1) {
  LabOptions o;
  o.nodes = 1;
  Topology t = build(o);
  for (const auto& p : t.pods) EXPECT_EQ(p.node, "node1");
  EXPECT_EQ(t.findPod("my-app-v2")->ipv4, "10.244.1.12");
}

TEST(Topology, NamePrefixesEverything) {
  LabOptions o;
  o.name = "t1";
  Topology t = build(o);
  EXPECT_EQ(t.nodes[0].netns, "t1-node1");
  EXPECT_EQ(t.findPod("client")->netns, "t1-pod-client");
  EXPECT_EQ(t.underlay_netns, "t1-underlay");
  EXPECT_EQ(t.options.run_dir, "/run/t1-lab");
  EXPECT_EQ(t.cgroup_subdir, "t1-lab");
}

TEST(Topology, RejectsBadNodeCounts) {
  for (int n : {0, -1, 201, 300}) {
    LabOptions o;
    o.nodes = n;
    auto t = buildTopology(o);
    ASSERT_FALSE(t.isOk()) << n;
    EXPECT_THAT(t.error().message, HasSubstr(fmt::format("invalid --nodes {}", n)));
    EXPECT_THAT(t.error().message, HasSubstr("1 to 200"));
  }
}

TEST(Topology, RejectsBadNames) {
  for (std::string name : {"", "Ambit", "1lab", "a_b", "a/b", "averyveryverylongname"}) {
    LabOptions o;
    o.name = name;
    auto t = buildTopology(o);
    ASSERT_FALSE(t.isOk()) << name;
    EXPECT_THAT(t.error().message, HasSubstr("invalid lab name"));
  }
}

TEST(Topology, RejectsIncompleteDaemonSpec) {
  LabOptions o;
  o.daemons = {NodeDaemonSpec{.name = "agent"}};
  auto t = buildTopology(o);
  ASSERT_FALSE(t.isOk());
  EXPECT_THAT(t.error().message, HasSubstr("node daemon spec"));
}

// The argv that follows `flag` in argv ("" when flag is absent).
std::string after(const std::vector<std::string>& argv, const std::string& flag) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

TEST(Topology, CertTtlGoesToEveryZtunnelAndTheWaypoint) {
  LabOptions o;
  o.waypoint = true;
  o.cert_ttl_seconds = 180;
  Topology t = build(o);
  for (const auto& d : t.options.daemons) {
    EXPECT_EQ(after(d.args, "--cert-ttl"), d.name == "ztunnel" ? "180" : "") << d.name;
  }
  const PodSpec* waypoint = t.findPod(kWaypointName);
  ASSERT_NE(waypoint, nullptr);
  EXPECT_EQ(after(waypoint->command, "--cert-ttl"), "180");

  Topology plain = build(LabOptions{.waypoint = true});  // unset: the daemons' own default
  for (const auto& d : plain.options.daemons) EXPECT_EQ(after(d.args, "--cert-ttl"), "") << d.name;
  EXPECT_EQ(after(plain.findPod(kWaypointName)->command, "--cert-ttl"), "");
}

TEST(Topology, RejectsCertTtlOutsideTheDaemonsRange) {
  for (int64_t ttl : {int64_t{0}, int64_t{-5}, int64_t{9}, kMaxCertTtlSeconds + 1}) {
    LabOptions o;
    o.cert_ttl_seconds = ttl;
    auto t = buildTopology(o);
    ASSERT_FALSE(t.isOk()) << ttl;
    EXPECT_THAT(t.error().message, HasSubstr(fmt::format("invalid --cert-ttl {}", ttl)));
  }
  LabOptions edge;
  edge.cert_ttl_seconds = kMinCertTtlSeconds;
  EXPECT_TRUE(buildTopology(edge).isOk());
}

TEST(Topology, ParsesCertTtlAsWholeSeconds) {
  EXPECT_EQ(parseCertTtl("180").value(), 180);
  EXPECT_EQ(parseCertTtl("-3").value(), -3);  // range: buildTopology
  for (std::string bad : {"", "abc", "60s", "1.5", " 60", "60 "}) {
    auto r = parseCertTtl(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("invalid --cert-ttl '" + bad + "'"));
  }
}

TEST(Topology, ExtraPodSpecNamesPodAndNode) {
  auto on2 = parseExtraPod("extra:node2");
  ASSERT_TRUE(on2.isOk()) << on2.error().message;
  EXPECT_EQ(on2->name, "extra");
  EXPECT_EQ(on2->node, "node2");
  EXPECT_EQ(on2->labels, (std::map<std::string, std::string>{{"app", "extra"}}));
  EXPECT_EQ(parseExtraPod("extra").value().node, "node1");
  for (std::string bad : {"", ":node2", "extra:", "a:b:c"}) {
    auto r = parseExtraPod(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("invalid --extra-pod"));
  }

  LabOptions o;
  o.extra_pods = {*on2};
  Topology t = build(o);
  const PodSpec* p = t.findPod("extra");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->node, "node2");
  EXPECT_EQ(p->ipv4, "10.244.2.11");  // after my-app-v2 on node2
  EXPECT_EQ(p->service_account, "extra");
  EXPECT_EQ(p->netns, "ambit-pod-extra");
}

TEST(Placeholders, ExpandsKnownKeys) {
  auto r = expandPlaceholders("{bin_dir}/ambit-agent --node={node}",
                              {{"bin_dir", "/b"}, {"node", "n1"}});
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, "/b/ambit-agent --node=n1");
  EXPECT_EQ(expandPlaceholders("plain", {}).value(), "plain");
}

TEST(Placeholders, UnknownOrUnclosedIsAnError) {
  auto unknown = expandPlaceholders("--x={nope}", {{"node", "n1"}});
  ASSERT_FALSE(unknown.isOk());
  EXPECT_THAT(unknown.error().message, HasSubstr("unknown placeholder {nope}"));
  EXPECT_FALSE(expandPlaceholders("--x={node", {{"node", "n1"}}).isOk());
}

}  // namespace
}  // namespace ambit::lab
