#include "cli/lab/lab_yaml.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace ambit::lab {
namespace {

std::vector<YAML::Node> docs(const std::string& text) { return YAML::LoadAll(text); }

class LabYaml : public testing::Test {
 protected:
  void SetUp() override {
    LabOptions o;
    o.bin_dir = "/opt/bin";
    auto t = buildTopology(o);
    ASSERT_TRUE(t.isOk());
    files_ = renderConfig(*t);
  }
  std::map<std::string, std::string> files_;
};

TEST_F(LabYaml, NamespacesEnrollDefaultInAmbientMode) {
  auto ns = docs(files_.at("00-namespaces.yaml"));
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(ns[0]["kind"].as<std::string>(), "Namespace");
  EXPECT_EQ(ns[0]["metadata"]["name"].as<std::string>(), "default");
  EXPECT_EQ(ns[0]["metadata"]["labels"]["istio.io/dataplane-mode"].as<std::string>(), "ambient");
  EXPECT_EQ(ns[1]["metadata"]["name"].as<std::string>(), "istio-system");
  EXPECT_FALSE(ns[1]["metadata"]["labels"]);
}

TEST_F(LabYaml, PodsCarryPlacementIdentityAndAddresses) {
  auto pods = docs(files_.at("10-pods.yaml"));
  ASSERT_EQ(pods.size(), 3u);
  const YAML::Node& v2 = pods[2];
  EXPECT_EQ(v2["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(v2["kind"].as<std::string>(), "Pod");
  EXPECT_EQ(v2["metadata"]["name"].as<std::string>(), "my-app-v2");
  EXPECT_EQ(v2["metadata"]["namespace"].as<std::string>(), "default");
  EXPECT_EQ(v2["metadata"]["labels"]["app"].as<std::string>(), "my-app");
  EXPECT_EQ(v2["metadata"]["labels"]["version"].as<std::string>(), "v2");
  EXPECT_EQ(v2["metadata"]["annotations"]["ambit.dev/netns"].as<std::string>(),
            "/run/netns/ambit-pod-my-app-v2");
  EXPECT_EQ(v2["spec"]["nodeName"].as<std::string>(), "node2");
  EXPECT_EQ(v2["spec"]["serviceAccountName"].as<std::string>(), "my-app");
  EXPECT_EQ(v2["spec"]["containers"][0]["ports"][0]["containerPort"].as<int>(), 8080);
  EXPECT_EQ(v2["status"]["podIP"].as<std::string>(), "10.244.2.10");
  EXPECT_EQ(v2["status"]["podIPs"][0]["ip"].as<std::string>(), "10.244.2.10");
  EXPECT_EQ(v2["status"]["podIPs"][1]["ip"].as<std::string>(), "fd00:10:244:2::10");
  EXPECT_EQ(v2["status"]["hostIP"].as<std::string>(), "172.30.0.12");
}

TEST(LabYamlExtraPod, LocalModeExtraPodIsAnEnrolledPodNoServiceSelects) {
  LabOptions o;
  o.bin_dir = "/opt/bin";
  o.extra_pods = {*parseExtraPod("extra:node2")};
  auto t = buildTopology(o);
  ASSERT_TRUE(t.isOk()) << t.error().message;
  auto files = renderConfig(*t);
  auto pods = docs(files.at("10-pods.yaml"));
  ASSERT_EQ(pods.size(), 4u);
  const YAML::Node& extra = pods[3];
  EXPECT_EQ(extra["metadata"]["name"].as<std::string>(), "extra");
  EXPECT_EQ(extra["metadata"]["labels"]["app"].as<std::string>(), "extra");
  EXPECT_FALSE(extra["metadata"]["labels"]["istio.io/dataplane-mode"]);  // the namespace's: ambient
  EXPECT_EQ(extra["metadata"]["annotations"]["ambit.dev/netns"].as<std::string>(),
            "/run/netns/ambit-pod-extra");
  EXPECT_EQ(extra["spec"]["nodeName"].as<std::string>(), "node2");
  EXPECT_EQ(extra["spec"]["serviceAccountName"].as<std::string>(), "extra");
  EXPECT_EQ(extra["status"]["podIP"].as<std::string>(), "10.244.2.11");
  for (const auto& svc : docs(files.at("20-services.yaml"))) {
    EXPECT_NE(svc["spec"]["selector"]["app"].as<std::string>(), "extra");
  }
  EXPECT_EQ(files.at("30-destination-rules.yaml"),
            renderConfig(*buildTopology(LabOptions{.bin_dir = "/opt/bin"}))
                .at("30-destination-rules.yaml"));
}

TEST_F(LabYaml, ServicesAreDualStackClusterIPs) {
  auto svcs = docs(files_.at("20-services.yaml"));
  ASSERT_EQ(svcs.size(), 2u);
  const YAML::Node& s = svcs[0];
  EXPECT_EQ(s["kind"].as<std::string>(), "Service");
  EXPECT_EQ(s["metadata"]["name"].as<std::string>(), "my-app");
  EXPECT_EQ(s["spec"]["selector"]["app"].as<std::string>(), "my-app");
  EXPECT_EQ(s["spec"]["clusterIP"].as<std::string>(), "10.96.0.10");
  EXPECT_EQ(s["spec"]["clusterIPs"][1].as<std::string>(), "fd00:10:96::10");
  EXPECT_EQ(s["spec"]["ports"][0]["name"].as<std::string>(), "http");
  EXPECT_EQ(s["spec"]["ports"][0]["port"].as<int>(), 80);
  EXPECT_EQ(s["spec"]["ports"][0]["targetPort"].as<int>(), 8080);
  EXPECT_EQ(svcs[1]["spec"]["clusterIP"].as<std::string>(), "10.96.0.11");
}

TEST_F(LabYaml, DestinationRuleHasSubsetsPerVersion) {
  auto drs = docs(files_.at("30-destination-rules.yaml"));
  ASSERT_EQ(drs.size(), 1u);  // client has no version label: no subsets, no rule
  const YAML::Node& dr = drs[0];
  EXPECT_EQ(dr["apiVersion"].as<std::string>(), "networking.istio.io/v1alpha3");
  EXPECT_EQ(dr["kind"].as<std::string>(), "DestinationRule");
  EXPECT_EQ(dr["spec"]["host"].as<std::string>(), "my-app");
  ASSERT_EQ(dr["spec"]["subsets"].size(), 2u);
  EXPECT_EQ(dr["spec"]["subsets"][0]["name"].as<std::string>(), "v1");
  EXPECT_EQ(dr["spec"]["subsets"][1]["labels"]["version"].as<std::string>(), "v2");
}

}  // namespace
}  // namespace ambit::lab
