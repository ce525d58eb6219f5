// Runs the built ambitctl: `config validate` exit codes and messages, `config dump` output.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

// `ambitctl <args>` (split by /bin/sh, like a user's shell would).
test::CommandOutput ambitctl(const std::string& args) {
  return test::sh(test::binary("ambitctl") + " " + args);
}

constexpr const char* kRule = R"(apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: my-app}
spec:
  host: my-app
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
)";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(test::binary("ambitctl"))) << "build ambitctl first";
    config_.write("vs.yaml", test::seedVirtualService());
    config_.write("dr.yaml", kRule);
  }
  std::string dir() const { return config_.path().string(); }

  test::TempDir config_;
};

TEST_F(CliTest, ValidateGoodDirectoryExitsZero) {
  const test::CommandOutput r = ambitctl("config validate " + dir());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "2 resources valid\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, ValidateListsEveryProblemOnItsOwnLine) {
  config_.write("bad.yaml",
                "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
                "spec:\n  ports: 80\n  bogus: true\n");
  config_.write("worse.yaml", "kind: [\n");
  const test::CommandOutput r = ambitctl("config validate " + dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  const std::string bad = dir() + "/bad.yaml";
  EXPECT_NE(r.err.find(bad + ":5: Service default/s: spec.ports: must be a list, got a scalar\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(bad + ":6: Service default/s: unknown field spec.bogus\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(dir() + "/worse.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("3 problem(s) found"), std::string::npos) << r.err;
}

TEST_F(CliTest, ValidateMissingArgumentIsAUsageError) {
  const test::CommandOutput r = ambitctl("config validate");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("DIR"), std::string::npos) << r.err;
}

TEST_F(CliTest, DumpJsonIsTheSnapshot) {
  const test::CommandOutput r = ambitctl("config dump " + dir() + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["trust_domain"], "cluster.local");
  EXPECT_EQ(j["version"].get<std::string>().size(), 16u);
  const auto& dests = j["route_tables"][0]["http"][0]["destinations"];
  EXPECT_EQ(dests[0]["subset"], "v1");
  EXPECT_EQ(dests[0]["weight"], 80);
  EXPECT_EQ(dests[1]["weight"], 20);
}

TEST_F(CliTest, DumpYamlParsesBackToTheSameValues) {
  const test::CommandOutput r = ambitctl("config dump " + dir() + " -o yaml");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const YAML::Node y = YAML::Load(r.out);
  EXPECT_EQ(y["root_namespace"].as<std::string>(), "istio-system");
  EXPECT_EQ(y["route_tables"][0]["hosts"][0].as<std::string>(), "my-app.default.svc.cluster.local");
  EXPECT_EQ(y["route_tables"][0]["http"][0]["destinations"][1]["subset"].as<std::string>(), "v2");
  EXPECT_EQ(y["route_tables"][0]["http"][0]["destinations"][1]["weight"].as<int>(), 20);
}

TEST_F(CliTest, DumpOfBadDirectoryFailsWithErrors) {
  config_.write("bad.yaml", "apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n");
  const test::CommandOutput r = ambitctl("config dump " + dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("bad.yaml:2: Gizmo default/g: unknown kind 'Gizmo'"), std::string::npos)
      << r.err;
}

TEST_F(CliTest, DumpRejectsUnknownFormat) {
  const test::CommandOutput r = ambitctl("config dump " + dir() + " -o xml");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace ambit::config
