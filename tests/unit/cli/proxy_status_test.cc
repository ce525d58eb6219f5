#include "cli/proxy_status.h"

#include <gtest/gtest.h>

namespace ambit::cli {
namespace {

using json = nlohmann::json;

constexpr const char* kZtunnelMetrics = R"(# HELP istio_build Istio component build info
# TYPE istio_build gauge
istio_build{component="ztunnel",tag="0.1.0"} 1
# TYPE ambit_config_info gauge
ambit_config_info{version="157f3b4b61bca255"} 1
ambit_config_applied_total 3
ambit_xds_connected 1
ambit_xds_connected_other 0
)";

MeshDaemon daemon(const std::string& kind, const std::string& node) {
  return MeshDaemon{.name = kind + "-" + node,
                    .kind = kind,
                    .node = node,
                    .dump = {},
                    .health = AdminEndpoint{.host = "127.0.0.1", .port = 15020, .netns = "n"}};
}

DaemonProbe probe(const std::string& kind, const std::string& node, const std::string& version,
                  std::optional<bool> xds = std::nullopt) {
  return DaemonProbe{
      .daemon = daemon(kind, node),
      .health = DaemonHealth{.build = "0.1.0", .config_version = version, .xds_connected = xds},
      .error = "",
      .ready = true};
}

TEST(ParseHealthTest, ReadsBuildConfigVersionAndDiscoveryState) {
  DaemonHealth h = parseHealth(kZtunnelMetrics);
  EXPECT_EQ(h.build, "0.1.0");
  EXPECT_EQ(h.config_version, "157f3b4b61bca255");
  ASSERT_TRUE(h.xds_connected.has_value());
  EXPECT_TRUE(*h.xds_connected);
}

TEST(ParseHealthTest, MissingFamiliesStayEmpty) {
  DaemonHealth h = parseHealth("process_open_fds 12\n# ambit_config_info{version=\"x\"} 1\n");
  EXPECT_EQ(h.build, "");
  EXPECT_EQ(h.config_version, "");
  EXPECT_FALSE(h.xds_connected.has_value());
  EXPECT_FALSE(*parseHealth("ambit_xds_connected 0\n").xds_connected);
}

TEST(ProxyStatusTest, LocalModeComparesWithTheConfigDirectoryVersion) {
  std::vector<DaemonProbe> probes = {probe("ztunnel", "node1", "v2", false),
                                     probe("ztunnel", "node2", "v1"), probe("agent", "node1", "")};
  probes.push_back(DaemonProbe{.daemon = daemon("agent", "node2"),
                               .health = std::nullopt,
                               .error = "GET http://n/127.0.0.1:15020/metrics: refused",
                               .ready = true});
  json rows = proxyStatusRows(probes, /*kubernetes=*/false, "v2");
  ASSERT_EQ(rows.size(), 4u);
  // Local mode has no discovery stream: xds_connected 0 does not matter.
  EXPECT_EQ(rows[0]["status"], "SYNCED");
  EXPECT_EQ(rows[1]["status"], "STALE");
  EXPECT_EQ(rows[2]["status"], "NOT SENT");
  EXPECT_EQ(rows[3]["status"], "UNREACHABLE");
  EXPECT_NE(rows[3]["error"].get<std::string>().find("refused"), std::string::npos);
  EXPECT_EQ(rows[0]["source"], "config-dir");
  EXPECT_EQ(rows[0]["cluster"], "lab");
  EXPECT_EQ(proxyStatusTable(rows).render(),
            "NAME          CLUSTER SOURCE     VERSION CONFIG STATUS\n"
            "ztunnel-node1 lab     config-dir 0.1.0   v2     SYNCED\n"
            "ztunnel-node2 lab     config-dir 0.1.0   v1     STALE\n"
            "agent-node1   lab     config-dir 0.1.0   -      NOT SENT\n"
            "agent-node2   lab     config-dir -       -      UNREACHABLE\n");
}

TEST(ProxyStatusTest, LocalModeWithABrokenConfigDirectoryIsNeverSynced) {
  json rows = proxyStatusRows({probe("ztunnel", "node1", "v1")}, false, "");
  EXPECT_EQ(rows[0]["status"], "STALE");
}

TEST(ProxyStatusTest, KubernetesModeFollowsTheRelayChain) {
  std::vector<DaemonProbe> probes = {
      probe("agent", "node1", "7", true),    probe("ztunnel", "node1", "7", true),
      probe("agent", "node2", "7", true),    probe("ztunnel", "node2", "6", true),
      probe("agent", "node3", "5", false),   probe("waypoint", "node1", "7", true),
      probe("waypoint", "node2", "5", true),
  };
  DaemonProbe control{.daemon = daemon("control", ""),
                      .health = DaemonHealth{.build = "0.1.0"},
                      .error = "",
                      .ready = false};
  probes.push_back(control);
  json rows = proxyStatusRows(probes, /*kubernetes=*/true, "");
  EXPECT_EQ(rows[0]["status"], "SYNCED");
  EXPECT_EQ(rows[1]["status"], "SYNCED");  // its agent's version
  EXPECT_EQ(rows[1]["source"], "agent-node1");
  EXPECT_EQ(rows[3]["status"], "STALE");
  EXPECT_EQ(rows[4]["status"], "NOT CONNECTED");
  EXPECT_EQ(rows[5]["status"], "SYNCED");  // what most agents run
  EXPECT_EQ(rows[5]["source"], "ambit-control");
  EXPECT_EQ(rows[6]["status"], "STALE");
  EXPECT_EQ(rows[7]["status"], "NOT READY");
  EXPECT_EQ(rows[7]["source"], "kube-apiserver");
  EXPECT_EQ(rows[7]["cluster"], "Kubernetes");
}

}  // namespace
}  // namespace ambit::cli
