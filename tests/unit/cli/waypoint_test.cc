#include "cli/waypoint.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace ambit::cli {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(WaypointGenerateTest, IstioWaypointGatewayWithMeshListener) {
  YAML::Node g = YAML::Load(gatewayYaml(WaypointSpec{}));
  EXPECT_EQ(g["apiVersion"].as<std::string>(), "gateway.networking.k8s.io/v1");
  EXPECT_EQ(g["kind"].as<std::string>(), "Gateway");
  EXPECT_EQ(g["metadata"]["name"].as<std::string>(), "waypoint");
  EXPECT_EQ(g["metadata"]["namespace"].as<std::string>(), "default");
  EXPECT_EQ(g["metadata"]["labels"]["istio.io/waypoint-for"].as<std::string>(), "service");
  EXPECT_EQ(g["spec"]["gatewayClassName"].as<std::string>(), "istio-waypoint");
  ASSERT_EQ(g["spec"]["listeners"].size(), 1u);
  EXPECT_EQ(g["spec"]["listeners"][0]["name"].as<std::string>(), "mesh");
  EXPECT_EQ(g["spec"]["listeners"][0]["port"].as<int>(), 15008);
  EXPECT_EQ(g["spec"]["listeners"][0]["protocol"].as<std::string>(), "HBONE");
}

TEST(WaypointGenerateTest, NameNamespaceAndTrafficType) {
  auto g = gatewayObject({.name = "wp-1", .namespace_name = "shop", .traffic_type = "all"});
  EXPECT_EQ(g["metadata"]["name"], "wp-1");
  EXPECT_EQ(g["metadata"]["namespace"], "shop");
  EXPECT_EQ(g["metadata"]["labels"]["istio.io/waypoint-for"], "all");
}

TEST(WaypointGenerateTest, BadFlagsAreNamed) {
  auto bad = [](WaypointSpec s) {
    Status st = validateWaypointSpec(s);
    return st ? std::string() : st.message();
  };
  EXPECT_EQ(bad({}), "");
  EXPECT_NE(bad({.name = "Bad_Name"}).find("--name 'Bad_Name'"), std::string::npos);
  EXPECT_NE(bad({.name = ""}).find("--name"), std::string::npos);
  EXPECT_NE(bad({.namespace_name = "-x"}).find("--namespace '-x'"), std::string::npos);
  EXPECT_NE(bad({.traffic_type = "pods"}).find("--for 'pods'"), std::string::npos);
}

TEST(WaypointObjectTest, RecognisesOnlyWaypointClasses) {
  WaypointInfo w;
  auto g = gatewayObject({.name = "a", .namespace_name = "b", .traffic_type = "workload"});
  ASSERT_TRUE(waypointFromObject(g, w));
  EXPECT_EQ(w.name, "a");
  EXPECT_EQ(w.namespace_name, "b");
  EXPECT_EQ(w.traffic_type, "workload");
  EXPECT_EQ(w.gateway_class, "istio-waypoint");
  g["spec"]["gatewayClassName"] = "ambit-waypoint";
  g["metadata"].erase("labels");
  ASSERT_TRUE(waypointFromObject(g, w));
  EXPECT_EQ(w.traffic_type, "service");  // Istio's default
  g["spec"]["gatewayClassName"] = "istio";
  EXPECT_FALSE(waypointFromObject(g, w));
  EXPECT_FALSE(waypointFromObject({{"kind", "Service"}}, w));
  EXPECT_FALSE(waypointFromObject("not an object", w));
}

class LocalWaypointTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_.write("00-namespaces.yaml",
               "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels:\n"
               "    istio.io/dataplane-mode: ambient\n---\napiVersion: v1\nkind: Namespace\n"
               "metadata:\n  name: shop\n");
    dir_.write("40-waypoint.yaml", gatewayYaml({}));
    dir_.write("broken.yaml", "kind: [unclosed\n");
    dir_.write(".hidden/x.yaml", gatewayYaml({.name = "hidden"}));
  }
  test::TempDir dir_{"ctl-waypoint"};
};

TEST_F(LocalWaypointTest, ListFindsGatewaysOfWaypointClassesAndSkipsBrokenAndHiddenFiles) {
  auto all = listLocalWaypoints(dir_.path(), "");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "waypoint");
  EXPECT_EQ(all[0].file, dir_.file("40-waypoint.yaml"));
  EXPECT_TRUE(listLocalWaypoints(dir_.path(), "shop").empty());
}

TEST_F(LocalWaypointTest, ApplyWritesAFileThatListSeesAndDeleteRemoves) {
  WaypointSpec spec{.name = "shop-wp", .namespace_name = "shop", .traffic_type = "all"};
  ASSERT_TRUE(applyLocalWaypoint(dir_.path(), spec).isOk());
  auto file = localWaypointFile(dir_.path(), spec);
  EXPECT_EQ(file.filename(), "waypoint-shop-shop-wp.yaml");
  EXPECT_EQ(slurp(file), gatewayYaml(spec));
  auto shop = listLocalWaypoints(dir_.path(), "shop");
  ASSERT_EQ(shop.size(), 1u);
  EXPECT_EQ(shop[0].traffic_type, "all");
  // Applying again replaces it.
  spec.traffic_type = "workload";
  ASSERT_TRUE(applyLocalWaypoint(dir_.path(), spec).isOk());
  EXPECT_EQ(listLocalWaypoints(dir_.path(), "shop").at(0).traffic_type, "workload");
  ASSERT_TRUE(deleteLocalWaypoint(dir_.path(), spec).isOk());
  EXPECT_FALSE(std::filesystem::exists(file));
  Status again = deleteLocalWaypoint(dir_.path(), spec);
  ASSERT_FALSE(again);
  EXPECT_NE(again.message().find("no waypoint shop-wp in namespace shop"), std::string::npos);
}

TEST_F(LocalWaypointTest, AGatewayDeclaredElsewhereIsNeitherDuplicatedNorDeleted) {
  Status apply = applyLocalWaypoint(dir_.path(), {});
  ASSERT_FALSE(apply);
  EXPECT_NE(apply.message().find("40-waypoint.yaml"), std::string::npos);
  Status del = deleteLocalWaypoint(dir_.path(), {});
  ASSERT_FALSE(del);
  EXPECT_NE(del.message().find("40-waypoint.yaml"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir_.file("40-waypoint.yaml")));
}

TEST_F(LocalWaypointTest, EnrollNamespaceLabelsTheNamespaceWhereItIsDeclared) {
  WaypointSpec spec{.name = "shop-wp", .namespace_name = "shop"};
  ASSERT_TRUE(enrollLocalNamespace(dir_.path(), spec).isOk());
  auto docs = YAML::LoadAll(slurp(dir_.file("00-namespaces.yaml")));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1]["metadata"]["labels"]["istio.io/use-waypoint"].as<std::string>(), "shop-wp");
  EXPECT_FALSE(docs[0]["metadata"]["labels"]["istio.io/use-waypoint"]);
  EXPECT_EQ(docs[0]["metadata"]["labels"]["istio.io/dataplane-mode"].as<std::string>(), "ambient");
  Status missing = enrollLocalNamespace(dir_.path(), {.namespace_name = "nowhere"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("Namespace nowhere"), std::string::npos);
}

}  // namespace
}  // namespace ambit::cli
