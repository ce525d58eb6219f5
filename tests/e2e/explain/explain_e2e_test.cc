// End-to-end: a lab with a waypoint (`ambitctl lab up --waypoint`). `ambitctl explain` reads the
// lab's config directory and predicts what happens to a request; the test then sends the real
// request from the client pod and checks the prediction: 403 and the denying policy for a
// denied path, 200 for an allowed one, and for a weighted route the same subsets (and pods)
// the traffic actually reaches.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/support/observability.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"
#include "tests/support/wait.h"
#include "tests/support/waypoint_lab.h"

namespace ambit::e2e {
namespace {

using test::CommandOutput;

const std::string kFile = "60-explain-test.yaml";
const std::string kSplitScript =
    std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/waypoint/http_split.py";

const std::string kDenyAdmin = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  action: DENY
  rules:
  - to: [{operation: {methods: [DELETE]}}]
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
)";

class ExplainE2eTest : public test::WaypointLabTest {
 public:
  static void SetUpTestSuite() { upLab("expe2e"); }

 protected:
  void TearDown() override {
    if (lab_ != nullptr && test::runningAsRoot())
      applyWaypointConfig(kFile, "", "0 route tables, 0 authorization policies");
  }

  // `ambitctl explain -f <lab config> --from default/client --to 10.96.0.10:80 <args> -o json`.
  static nlohmann::json explain(const std::string& args) {
    CommandOutput out = test::sh(test::binary("ambitctl") + " explain -f " + lab_->configDir() +
                                 " --from default/client --to 10.96.0.10:80 -o json " + args);
    EXPECT_EQ(out.exit_code, 0) << out.err;
    auto j = nlohmann::json::parse(out.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << out.out << out.err;
    return j.is_object() ? j : nlohmann::json::object();
  }

  static std::string status(const std::string& path) {
    return lab_
        ->exec("client", {"curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://10.96.0.10" + path})
        .out;
  }

  // http_split.py from the client pod: {"statuses": {...}, "versions": {...}, "errors": n}.
  static nlohmann::json split(int count, const std::vector<std::string>& headers = {}) {
    std::vector<std::string> argv{"/usr/bin/python3",   kSplitScript, "10.96.0.10", "80", "/",
                                  std::to_string(count)};
    argv.insert(argv.end(), headers.begin(), headers.end());
    CommandOutput out = lab_->exec("client", argv, std::chrono::seconds(120));
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return nlohmann::json::parse(out.out, nullptr, false);
  }

  // The explained destinations: subset -> pod names.
  static std::map<std::string, std::set<std::string>> subsets(const nlohmann::json& e) {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& d : e["destinations"]) {
      auto& pods = out[d["subset"].get<std::string>()];
      for (const auto& ep : d["endpoints"]) {
        const std::string s = ep.get<std::string>();  // "default/my-app-v1 10.244.1.11:8080"
        pods.insert(s.substr(s.find('/') + 1, s.find(' ') - s.find('/') - 1));
      }
    }
    return out;
  }
};

TEST_F(ExplainE2eTest, DeniedAndAllowedRequestsAreExplainedAsTheyHappen) {
  applyWaypointConfig(kFile, kDenyAdmin, "0 route tables, 1 authorization policies");
  // The lab's own configuration has nothing for analyze to report.
  const CommandOutput analyzed =
      test::sh(test::binary("ambitctl") + " analyze -f " + lab_->configDir());
  EXPECT_EQ(analyzed.exit_code, 0) << analyzed.out << analyzed.err;
  const nlohmann::json denied = explain("--path /admin/users");
  EXPECT_EQ(denied["verdict"], "DENY") << denied.dump(2);
  EXPECT_EQ(denied["status"], 403);
  EXPECT_EQ(denied["decided_by"], "AuthorizationPolicy default/deny-admin");
  EXPECT_EQ(denied["reason"], "denied by policy default/deny-admin rules[1]");
  EXPECT_EQ(status("/admin/users"), "403");
  // The waypoint's access log names the same policy.
  EXPECT_TRUE(test::eventually([&] {
    return !test::matchingAccessRecords(waypointLog(), {{"path", "/admin/users"},
                                                        {"response_code", "403"},
                                                        {"policy", "default/deny-admin"}})
                .empty();
  })) << waypointLog();

  const nlohmann::json allowed = explain("--path /public");
  EXPECT_EQ(allowed["verdict"], "ALLOW") << allowed.dump(2);
  EXPECT_EQ(allowed["status"], 200);
  EXPECT_EQ(status("/public"), "200");

  const nlohmann::json by_method = explain("--method DELETE --path /public");
  EXPECT_EQ(by_method["reason"], "denied by policy default/deny-admin rules[0]");
  CommandOutput del =
      lab_->exec("client", {"curl", "-s", "-m", "5", "-X", "DELETE", "-o", "/dev/null", "-w",
                            "%{http_code}", "http://10.96.0.10/public"});
  EXPECT_EQ(del.out, "403");
}

TEST_F(ExplainE2eTest, WeightedRouteExplanationListsTheSubsetsTrafficReaches) {
  applyWaypointConfig(kFile, test::seedVirtualService(),
                      "1 route tables, 0 authorization policies");
  const nlohmann::json e = explain("");
  EXPECT_EQ(e["verdict"], "ALLOW") << e.dump(2);
  const auto explained = subsets(e);
  ASSERT_EQ(explained.size(), 2u) << e.dump(2);
  EXPECT_EQ(e["destinations"][0]["weight"], 80);
  EXPECT_EQ(e["destinations"][1]["weight"], 20);
  const nlohmann::json r = split(400);
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r["statuses"].value("200", 0), 400) << r;
  std::set<std::string> reached;
  for (const auto& [version, n] : r["versions"].items()) {
    if (n.get<int>() > 0) reached.insert(version);
  }
  std::set<std::string> predicted;
  for (const auto& [subset, pods] : explained) predicted.insert(subset);
  EXPECT_EQ(reached, predicted) << r;
  // Each subset's pods: the lab's my-app-v1 and my-app-v2, as the sample app names itself.
  EXPECT_EQ(explained.at("v1"), std::set<std::string>{"my-app-v1"});
  EXPECT_EQ(explained.at("v2"), std::set<std::string>{"my-app-v2"});
}

TEST_F(ExplainE2eTest, HeaderRouteExplanationMatchesTheSubsetReached) {
  applyWaypointConfig(kFile, R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app]
  http:
  - name: canary
    match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: my-app, subset: v2}}]
  - route:
    - {destination: {host: my-app, subset: v1}, weight: 100}
)",
                      "1 route tables, 0 authorization policies");
  const nlohmann::json canary = explain("-H 'x-canary: yes'");
  EXPECT_EQ(canary["route"], "#0 (canary)") << canary.dump(2);
  EXPECT_EQ(subsets(canary), (std::map<std::string, std::set<std::string>>{{"v2", {"my-app-v2"}}}));
  const nlohmann::json c = split(50, {"x-canary:yes"});
  EXPECT_EQ(c["versions"].value("v2", 0), 50) << c;
  const nlohmann::json plain = explain("");
  EXPECT_EQ(plain["route"], "#1") << plain.dump(2);
  EXPECT_EQ(subsets(plain), (std::map<std::string, std::set<std::string>>{{"v1", {"my-app-v1"}}}));
  const nlohmann::json p = split(50);
  EXPECT_EQ(p["versions"].value("v1", 0), 50) << p;
}

}  // namespace
}  // namespace ambit::e2e
