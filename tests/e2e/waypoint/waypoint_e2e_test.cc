// End-to-end: the lab with a waypoint (`ambitctl lab up --waypoint`). The unchanged client
// calls Service my-app (10.96.0.10:80); its ztunnel tunnels to the waypoint pod, which routes
// each HTTP request by the VirtualService / DestinationRule in the config directory, applies
// L7 AuthorizationPolicies and forwards over HBONE to my-app-v1 (node1) or my-app-v2 (node2).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/e2e/support/e2e_support.h"
#include "tests/support/seed.h"

namespace ambit::e2e {
namespace {

const std::string kRoutesFile = "50-waypoint-test.yaml";
const std::string kSplitScript =
    std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/waypoint/http_split.py";

using testdata::kSeedVirtualService;

class WaypointE2eTest : public testing::Test {
 public:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    lab_ = new Lab("wpe2e");
    lab_->down();
    lab_->up({"--waypoint"});
  }
  static void TearDownTestSuite() {
    if (lab_ != nullptr) lab_->down();
    delete lab_;
    lab_ = nullptr;
  }

 protected:
  void SetUp() override {
    AMBIT_REQUIRE_ROOT();
    ASSERT_NE(lab_, nullptr);
    bool ready = eventually(
        [] {
          return lab_->exec("waypoint",
                            {"curl", "-sf", "-m", "1", "http://127.0.0.1:15021/healthz/ready"})
                     .exit_code == 0;
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(ready) << "waypoint never became ready:\n" << waypointLog();
  }
  void TearDown() override {
    if (lab_ != nullptr && ::geteuid() == 0) applyConfig("", 0, 0);
  }

  static std::string waypointLog() {
    std::ifstream in(lab_->runDir() + "/logs/waypoint.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static size_t configVersionsLoaded() {
    std::string log = waypointLog();
    size_t n = 0;
    for (size_t at = log.find("config version"); at != std::string::npos;
         at = log.find("config version", at + 1)) {
      ++n;
    }
    return n;
  }

  // Writes (or, for empty yaml, removes) the test's config file and waits until the waypoint
  // loaded the new config, with that many route tables and authorization policies.
  static void applyConfig(const std::string& yaml, int route_tables, int policies) {
    const bool present = std::filesystem::exists(lab_->configDir() + "/" + kRoutesFile);
    if (yaml.empty() && !present) return;
    const size_t before = configVersionsLoaded();
    if (yaml.empty()) {
      lab_->removeConfig(kRoutesFile);
    } else {
      lab_->writeConfig(kRoutesFile, yaml);
    }
    std::string want = std::to_string(route_tables) + " route tables, " + std::to_string(policies) +
                       " authorization policies";
    bool applied = eventually([&] {
      if (configVersionsLoaded() <= before) return false;
      std::string log = waypointLog();
      size_t last = log.rfind("config version");
      return log.substr(last, log.find('\n', last) - last).find(want) != std::string::npos;
    });
    ASSERT_TRUE(applied) << "waypoint did not load the config (" << want << "):\n" << waypointLog();
  }

  // http_split.py from the client pod: `count` GETs on one keep-alive connection.
  static nlohmann::json split(int count, const std::string& path = "/",
                              const std::vector<std::string>& headers = {}) {
    std::vector<std::string> argv{"/usr/bin/python3",   kSplitScript, "10.96.0.10", "80", path,
                                  std::to_string(count)};
    argv.insert(argv.end(), headers.begin(), headers.end());
    CommandOutput out = lab_->exec("client", argv, std::chrono::seconds(120));
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return nlohmann::json::parse(out.out, nullptr, false);
  }

  static CommandOutput curl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"curl", "-s", "-m", "5", "--path-as-is"};
    argv.insert(argv.end(), args.begin(), args.end());
    return lab_->exec("client", argv);
  }

  static Lab* lab_;
};

Lab* WaypointE2eTest::lab_ = nullptr;

TEST_F(WaypointE2eTest, SeedVirtualServiceSplits2000RequestsEightyTwenty) {
  applyConfig(kSeedVirtualService, 1, 0);
  nlohmann::json r = split(2000);
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r["errors"], 0) << r;
  EXPECT_EQ(r["statuses"]["200"], 2000) << r;
  int v1 = r["versions"].value("v1", 0);
  int v2 = r["versions"].value("v2", 0);
  RecordProperty("v1", v1);
  RecordProperty("v2", v2);
  std::cout << "split of 2000: v1=" << v1 << " v2=" << v2 << "\n";
  EXPECT_GE(v1, 1540) << r;  // 80% +- 3% of 2000
  EXPECT_LE(v1, 1660) << r;
  EXPECT_GE(v2, 340) << r;  // 20% +- 3%
  EXPECT_LE(v2, 460) << r;
}

TEST_F(WaypointE2eTest, HeaderMatchBeforeWeightsRoutesToV2) {
  applyConfig(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - route:
    - {destination: {host: my-app, subset: v1}, weight: 80}
    - {destination: {host: my-app, subset: v2}, weight: 20}
)",
              1, 0);
  nlohmann::json canary = split(200, "/", {"x-canary:yes"});
  EXPECT_EQ(canary["versions"].value("v2", 0), 200) << canary;
  nlohmann::json plain = split(200);
  EXPECT_GT(plain["versions"].value("v1", 0), 100) << plain;
}

TEST_F(WaypointE2eTest, DenyPolicyOnAPathGives403) {
  applyConfig(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
)",
              0, 1);
  for (const std::string path :
       {"/admin", "/admin/users", "/public/../admin", "//admin", "/%61dmin", "/admin;x=1"}) {
    CommandOutput out = curl({"-w", "\n%{http_code}", "http://10.96.0.10" + path});
    EXPECT_EQ(out.out, "RBAC: access denied\n403") << path;
  }
  CommandOutput ok = curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/public"});
  EXPECT_EQ(ok.out, "200");
}

TEST_F(WaypointE2eTest, BlueGreenFlipByEditingTheYamlTakesEffectWithoutRestart) {
  applyConfig(kSeedVirtualService, 1, 0);
  std::string flipped = kSeedVirtualService;
  flipped.replace(flipped.find("weight: 80"), 10, "weight: 0");
  flipped.replace(flipped.find("weight: 20"), 10, "weight: 100");
  applyConfig(flipped, 1, 0);
  nlohmann::json r = split(200);
  EXPECT_EQ(r["versions"].value("v2", 0), 200) << r;
}

TEST_F(WaypointE2eTest, RetriesRecoverFromAnEveryOtherRequestFailure) {
  applyConfig(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - match: [{uri: {prefix: /flaky}, queryParams: {retry: {exact: "no"}}}]
    route: [{destination: {host: my-app, subset: v1}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /flaky}}]
    route: [{destination: {host: my-app, subset: v1}}]
    retries: {attempts: 2, retryOn: 5xx}
  - match: [{uri: {prefix: /delay}}]
    route: [{destination: {host: my-app, subset: v1}}]
    timeout: 200ms
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: my-app, subset: v1}}]
  - route: [{destination: {host: my-app, subset: v2}}]
)",
              1, 0);
  nlohmann::json r = split(40, "/flaky");
  EXPECT_EQ(r["statuses"].value("200", 0), 40) << r;
  CommandOutput slow =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/delay/2000"});
  EXPECT_EQ(slow.out, "504");
  CommandOutput fast =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/delay/10"});
  EXPECT_EQ(fast.out, "200");
  CommandOutput teapot =
      curl({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.10/teapot"});
  EXPECT_EQ(teapot.out, "418");
  // Without retries the same backend does fail every other request: the retries did the work.
  nlohmann::json bare = split(40, "/flaky?retry=no");
  EXPECT_GE(bare["statuses"].value("503", 0), 19) << bare;
}

TEST_F(WaypointE2eTest, ReportsIstioRequestMetrics) {
  nlohmann::json r = split(20);
  EXPECT_EQ(r["statuses"]["200"], 20) << r;
  CommandOutput m =
      lab_->exec("waypoint", {"curl", "-s", "-m", "5", "http://127.0.0.1:15020/metrics"});
  ASSERT_EQ(m.exit_code, 0);
  for (const std::string want :
       {"istio_requests_total{", "reporter=\"waypoint\"", "response_code=\"200\"",
        "request_protocol=\"http\"", "source_workload=\"client\"",
        "destination_service=\"my-app.default.svc.cluster.local\"",
        "destination_principal=\"spiffe://cluster.local/ns/default/sa/my-app\"",
        "istio_request_duration_milliseconds_bucket{", "istio_request_bytes_sum{",
        "istio_response_bytes_count{"}) {
    EXPECT_NE(m.out.find(want), std::string::npos) << want;
  }
  EXPECT_NE(waypointLog().find("access \"GET / HTTP/1.1\" 200"), std::string::npos);
}

}  // namespace
}  // namespace ambit::e2e
