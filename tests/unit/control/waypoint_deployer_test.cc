// The objects ambit-control creates for a waypoint Gateway.

#include "control/waypoint_deployer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ambit::control {
namespace {

nlohmann::json gateway() {
  return nlohmann::json::parse(R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
    "metadata":{"name":"waypoint","namespace":"shop","uid":"gw-uid","resourceVersion":"7"},
    "spec":{"gatewayClassName":"istio-waypoint",
            "listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}})");
}

TEST(WaypointDeployerTest, ServiceAccountDeploymentAndServiceOwnedByTheGateway) {
  WaypointTemplate t;
  t.image = "localhost/ambit/ambit-waypoint:0.3.0";
  auto objects = waypointObjects(gateway(), t);
  ASSERT_TRUE(objects) << objects.error().message;
  ASSERT_EQ(objects->size(), 3u);
  std::vector<std::string> kinds;
  for (const auto& o : *objects) {
    kinds.push_back(o["kind"]);
    EXPECT_EQ(o["metadata"]["name"], "waypoint");
    EXPECT_EQ(o["metadata"]["namespace"], "shop");
    const auto& owner = o["metadata"]["ownerReferences"][0];
    EXPECT_EQ(owner["kind"], "Gateway");
    EXPECT_EQ(owner["uid"], "gw-uid");
    EXPECT_EQ(owner["controller"], true);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"ServiceAccount", "Deployment", "Service"}));
  const auto& deploy = (*objects)[1];
  const auto& pod = deploy["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"], "waypoint");
  EXPECT_EQ(pod["metadata"]["labels"]["istio.io/dataplane-mode"], "none");
  EXPECT_EQ(pod["spec"]["serviceAccountName"], "waypoint");
  const auto& c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "localhost/ambit/ambit-waypoint:0.3.0");
  const auto args = c["args"].get<std::vector<std::string>>();
  auto after = [&](const std::string& flag) {
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag) return args[i + 1];
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(after("--gateway"), "waypoint");
  EXPECT_EQ(after("--namespace"), "shop");
  EXPECT_EQ(after("--discovery-address"), "ambit-control.ambit-system.svc:15012");
  EXPECT_EQ(after("--token-file"), "/var/run/secrets/ambit/tokens/ambit-token");
  EXPECT_EQ(after("--otlp-endpoint"), "<missing>");  // no tracing unless configured
  // The stop: 5 s still accepting while not ready, 5 s drain, and the kubelet waits for both.
  EXPECT_EQ(after("--shutdown-delay-ms"), "5000");
  EXPECT_EQ(after("--drain-ms"), "5000");
  EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], 5 + 5 + kTerminationMarginSeconds);
  const auto& token = pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
  EXPECT_EQ(token["audience"], "ambit");
  const auto& svc = (*objects)[2];
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 15008);
  EXPECT_EQ(svc["spec"]["selector"]["gateway.networking.k8s.io/gateway-name"], "waypoint");
}

TEST(WaypointDeployerTest, TraceExportIsPassedToTheWaypoint) {
  WaypointTemplate t;
  t.otlp_endpoint = "http://jaeger-collector.observability:4318/v1/traces";
  t.zipkin_address = "10.0.0.9:9411";
  auto objects = waypointObjects(gateway(), t);
  ASSERT_TRUE(objects) << objects.error().message;
  const auto args = (*objects)[1]["spec"]["template"]["spec"]["containers"][0]["args"]
                        .get<std::vector<std::string>>();
  auto at = std::find(args.begin(), args.end(), "--otlp-endpoint");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), t.otlp_endpoint);
  at = std::find(args.begin(), args.end(), "--zipkin-address");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), t.zipkin_address);
}

TEST(WaypointDeployerTest, ShutdownDelayAndDrainSetArgsAndTerminationGracePeriod) {
  WaypointTemplate t;
  t.shutdown_delay = std::chrono::seconds(12);
  t.drain = std::chrono::seconds(30);
  auto objects = waypointObjects(gateway(), t);
  ASSERT_TRUE(objects) << objects.error().message;
  const auto& pod = (*objects)[1]["spec"]["template"]["spec"];
  const auto args = pod["containers"][0]["args"].get<std::vector<std::string>>();
  auto at = std::find(args.begin(), args.end(), "--shutdown-delay-ms");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), "12000");
  at = std::find(args.begin(), args.end(), "--drain-ms");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), "30000");
  EXPECT_EQ(pod["terminationGracePeriodSeconds"], 12 + 30 + kTerminationMarginSeconds);
}

TEST(WaypointDeployerTest, GatewayWithoutUidIsRefusedByName) {
  auto gw = gateway();
  gw["metadata"].erase("uid");
  auto objects = waypointObjects(gw, {});
  ASSERT_FALSE(objects);
  EXPECT_NE(objects.error().message.find("Gateway 'shop/waypoint'"), std::string::npos);
}

TEST(WaypointDeployerTest, OnlyWaypointClasses) {
  EXPECT_TRUE(isWaypointClass("istio-waypoint"));
  EXPECT_TRUE(isWaypointClass("ambit-waypoint"));
  EXPECT_FALSE(isWaypointClass("istio"));
  EXPECT_FALSE(isWaypointClass(""));
}

}  // namespace
}  // namespace ambit::control
