// The built ambitctl: analyze's exit codes (79 with findings, 0 clean, other for usage and IO
// errors) and formats; explain's text and JSON on the ambient demo; bad flags.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace ambit::cli {
namespace {

using ::testing::HasSubstr;

const std::string kDemoDir = std::string(AMBIT_SOURCE_DIR) + "/deploy/samples/ambient-demo";

test::CommandOutput ambitctl(const std::string& args) {
  return test::sh(test::binary("ambitctl") + " " + args);
}

class InspectCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(test::binary("ambitctl"))) << "build ambitctl first";
    dir_.write("mesh.yaml", test::meshYaml());
  }
  std::string dir() const { return dir_.path().string(); }
  test::TempDir dir_;
};

TEST_F(InspectCliTest, AnalyzeCleanExitsZero) {
  const auto r = ambitctl("analyze -f " + dir());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No validation issues found when analyzing all namespaces.\n");
  const auto j = ambitctl("analyze -f " + dir() + " -o json");
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_EQ(j.out, "[]\n");
}

TEST_F(InspectCliTest, AnalyzeFindingsExit79) {
  // The demo's default-namespace VirtualService names a host no Service has.
  const auto r = ambitctl("analyze -f " + kDemoDir);
  EXPECT_EQ(r.exit_code, 79) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Error [IST0101] (VirtualService default/my-app " + kDemoDir +
                               "/traffic.yaml:8) Referenced host not found: "
                               "\"my-app.default.svc.cluster.local\""));
  EXPECT_THAT(r.out, HasSubstr("  Fix: "));
  const auto j = ambitctl("analyze -f " + kDemoDir + "/traffic.yaml -f " + kDemoDir +
                          "/workloads.yaml -o json");
  EXPECT_EQ(j.exit_code, 79);
  const auto parsed = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_TRUE(parsed.is_array()) << j.out;
  EXPECT_EQ(parsed[0]["code"], "IST0101");
  // Only this namespace: the demo namespace has nothing wrong.
  const auto demo = ambitctl("analyze -f " + kDemoDir + " -n demo");
  EXPECT_EQ(demo.exit_code, 0) << demo.out;
  // Errors only: a warning alone does not fail.
  dir_.write("wp.yaml",
             "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: w}\n"
             "spec: {gatewayClassName: istio-waypoint}\n");
  EXPECT_EQ(ambitctl("analyze -f " + dir()).exit_code, 79);
  EXPECT_EQ(ambitctl("analyze -f " + dir() + " --failure-threshold Error").exit_code, 0);
}

TEST_F(InspectCliTest, AnalyzeUsageAndIoErrorsAreNeither0Nor79) {
  const auto none = ambitctl("analyze");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.exit_code, 79);
  EXPECT_THAT(none.err, HasSubstr("-f DIR|FILE"));
  const auto both = ambitctl("analyze -f " + dir() + " -A -n default");
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.exit_code, 79);
  EXPECT_THAT(both.err, HasSubstr("excludes"));
  const auto missing = ambitctl("analyze -f /nonexistent/ambit");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.exit_code, 79);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/ambit"));
  const auto format = ambitctl("analyze -f " + dir() + " -o xml");
  EXPECT_NE(format.exit_code, 0);
  EXPECT_THAT(format.err, HasSubstr("xml"));
}

TEST_F(InspectCliTest, ExplainTextAndJsonOnTheDemo) {
  const auto t = ambitctl("explain -f " + kDemoDir + " --from demo/client --to my-app");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("Request: GET / from demo/client to my-app"));
  EXPECT_THAT(t.out, HasSubstr("waypoint"));
  EXPECT_THAT(t.out, HasSubstr("Verdict: ALLOW (the app answers)"));
  const auto j = ambitctl("explain -f " + kDemoDir +
                          " --from 10.10.1.12 --to 10.96.0.10:80 --path /x -H 'x-a: b' -o json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto parsed = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << j.out;
  EXPECT_EQ(parsed["verdict"], "ALLOW");
  EXPECT_EQ(parsed["destinations"].size(), 2u);
  EXPECT_EQ(parsed["destinations"][0]["subset"], "v1");
  EXPECT_EQ(parsed["destinations"][0]["weight"], 80);
}

TEST_F(InspectCliTest, ExplainBadFlagsSayWhat) {
  const auto no_to = ambitctl("explain -f " + kDemoDir + " --from demo/client");
  EXPECT_NE(no_to.exit_code, 0);
  EXPECT_THAT(no_to.err, HasSubstr("--to"));
  const auto header = ambitctl("explain -f " + kDemoDir + " --from demo/client --to my-app -H bad");
  EXPECT_NE(header.exit_code, 0);
  EXPECT_THAT(header.err, HasSubstr("'bad': expected 'name: value'"));
  const auto path = ambitctl("explain -f " + kDemoDir + " --from demo/client --to my-app --path x");
  EXPECT_NE(path.exit_code, 0);
  EXPECT_THAT(path.err, HasSubstr("must start with '/'"));
  const auto unknown = ambitctl("explain -f " + kDemoDir + " --from demo/ghost --to my-app");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no Pod demo/ghost"));
}

}  // namespace
}  // namespace ambit::cli
