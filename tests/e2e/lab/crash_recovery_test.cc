// End-to-end crash recovery (issue 14 item 5): the lab's supervisor restarts what kill -9 ends,
// as a kubelet would, while the client pod sends ~1,000 requests/s on fresh connections (L4 to
// my-app-v2 on the other node, HTTP through the waypoint to Service my-app):
//   agent killed    -> no request fails (the data path does not need it);
//   ztunnel killed  -> requests fail only between the kill and the first success after it, and
//                      that window is under 1 s;
//   waypoint killed -> the same for the traffic through it;
//   config file truncated mid-write (cut where the YAML is no longer valid) -> rejected as a
//                      whole, the enforced policy stays enforced, then the complete file applies.
// The outage windows are printed and recorded as test properties.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include "tests/support/lab.h"
#include "tests/support/requirements.h"
#include "tests/support/wait.h"

namespace ambit::e2e {
namespace {

using test::eventually;
using test::Lab;

const std::string kLoadScript = std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/lab/http_load.py";
const std::string kService = "10.96.0.10:80";  // my-app, bound to the waypoint
constexpr double kMaxOutageSeconds = 1.0;

double wallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What the load generator saw around one kill (wall-clock seconds).
struct LoadReport {
  int total = 0, failed = 0;
  double rate = 0;         // achieved requests per second
  double kill = 0;         // when the test sent SIGKILL
  double recovered = -1;   // first success of a request started after the kill
  int failed_outside = 0;  // failures that ended before the kill or started after recovery
  double outage() const { return recovered - kill; }
};

LoadReport analyse(const nlohmann::json& out, double kill) {
  LoadReport r;
  r.kill = kill;
  const auto& reqs = out["requests"];
  r.total = static_cast<int>(reqs.size());
  r.rate = r.total / std::max(1e-3, out["end"].get<double>() - out["begin"].get<double>());
  for (const auto& q : reqs) {
    if (q[2].get<int>() == 1 && q[0].get<double>() >= kill &&
        (r.recovered < 0 || q[1].get<double>() < r.recovered)) {
      r.recovered = q[1].get<double>();
    }
  }
  for (const auto& q : reqs) {
    if (q[2].get<int>() == 1) continue;
    ++r.failed;
    if (q[1].get<double>() < kill || (r.recovered >= 0 && q[0].get<double>() > r.recovered)) {
      ++r.failed_outside;
    }
  }
  return r;
}

class CrashRecoveryTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::runningAsRoot()) return;
    lab_ = std::make_unique<Lab>("ambitcr");
    lab_->down();
    lab_->up({"--waypoint"});
    up_ = !testing::Test::HasFatalFailure() && lab_->waitWaypointReady();
  }
  static void TearDownTestSuite() {
    if (lab_) lab_->down();
    lab_.reset();
  }
  void SetUp() override {
    AMBIT_REQUIRE(test::missingRoot("runs a lab: network namespaces, cgroups, BPF"));
    ASSERT_TRUE(up_) << "the lab did not come up";
  }

  // The state's record of a daemon ("node1", "ztunnel") or, with node "pod", a pod's app.
  static nlohmann::json record(const std::string& node, const std::string& name) {
    const nlohmann::json st = lab_->status();
    for (const auto& d : st["daemons"]) {
      if (d["node"] == node && d["name"] == name) return d;
    }
    for (const auto& p : st["pods"]) {
      if (node == "pod" && p["name"] == name) return p;
    }
    return nullptr;
  }

  // Runs the load, kills the process `after` into it, and returns what the client saw.
  static LoadReport loadAndKill(const std::vector<std::string>& targets, int pid,
                                std::chrono::milliseconds after = std::chrono::milliseconds(1500)) {
    std::vector<std::string> argv{"/usr/bin/python3", kLoadScript, "--rate", "1000",
                                  "--seconds",        "4"};
    for (const auto& t : targets) {
      argv.push_back("--target");
      argv.push_back(t);
    }
    auto load = std::async(std::launch::async, [&] { return lab_->exec("client", argv); });
    std::this_thread::sleep_for(after);
    double kill = wallNow();
    EXPECT_EQ(::kill(pid, SIGKILL), 0) << "kill -9 " << pid;
    test::CommandOutput out = load.get();
    auto j = nlohmann::json::parse(out.out, nullptr, false);
    if (out.exit_code != 0 || j.is_discarded() || !j.contains("requests")) {
      ADD_FAILURE() << "load generator exited " << out.exit_code << ":\n" << out.out << out.err;
      return {};
    }
    return analyse(j, kill);
  }

  // Waits for the supervisor to have restarted the process (a new live pid, one more restart).
  static void expectRestarted(const std::string& node, const std::string& name, int old_pid,
                              int old_restarts) {
    nlohmann::json r;
    bool restarted = eventually(
        [&] {
          r = record(node, name);
          return r.is_object() && r["alive"].get<bool>() && r["pid"].get<int>() != old_pid;
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(restarted) << node << "/" << name << " was not restarted: " << r.dump();
    EXPECT_EQ(r["restarts"].get<int>(), old_restarts + 1) << r.dump();
    std::ifstream log(lab_->runDir() + "/logs/supervisor.log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    EXPECT_THAT(text, testing::HasSubstr("(pid " + std::to_string(old_pid) + ") exited: signal 9"));
  }

  static void report(const char* what, const LoadReport& r) {
    std::printf(
        "crash recovery, %s killed: %d requests at %.0f/s, %d failed; kill to first success %.3f "
        "s\n",
        what, r.total, r.rate, r.failed, r.recovered < 0 ? -1.0 : r.outage());
    testing::Test::RecordProperty(std::string(what) + "_outage_ms",
                                  static_cast<int>(r.outage() * 1000));
    testing::Test::RecordProperty(std::string(what) + "_failed", r.failed);
  }

  static void expectShortOutage(const char* what, const LoadReport& r) {
    report(what, r);
    ASSERT_GT(r.total, 0);
    ASSERT_GE(r.recovered, 0) << "no request succeeded after the " << what << " was killed";
    EXPECT_LT(r.outage(), kMaxOutageSeconds);
    EXPECT_EQ(r.failed_outside, 0) << "failures outside the outage window";
  }

  static std::string pod_ip(const std::string& pod) { return lab_->podIp(pod) + ":8080"; }

  static std::unique_ptr<Lab> lab_;
  static bool up_;
};

std::unique_ptr<Lab> CrashRecoveryTest::lab_;
bool CrashRecoveryTest::up_ = false;

TEST_F(CrashRecoveryTest, AgentKilledUnderLoadFailsNoRequest) {
  nlohmann::json before = record("node1", "agent");
  ASSERT_TRUE(before.is_object());
  LoadReport r = loadAndKill({pod_ip("my-app-v2"), kService}, before["pid"].get<int>());
  report("agent", r);
  EXPECT_GT(r.total, 0);
  EXPECT_EQ(r.failed, 0);
  expectRestarted("node1", "agent", before["pid"], before["restarts"]);
}

TEST_F(CrashRecoveryTest, ZtunnelKilledUnderLoadRecoversWithinASecond) {
  nlohmann::json before = record("node1", "ztunnel");
  ASSERT_TRUE(before.is_object());
  LoadReport r = loadAndKill({pod_ip("my-app-v2"), kService}, before["pid"].get<int>());
  expectShortOutage("ztunnel", r);
  expectRestarted("node1", "ztunnel", before["pid"], before["restarts"]);
}

TEST_F(CrashRecoveryTest, WaypointKilledUnderLoadRecoversWithinASecond) {
  nlohmann::json before = record("pod", "waypoint");
  ASSERT_TRUE(before.is_object());
  LoadReport r = loadAndKill({kService}, before["pid"].get<int>());
  expectShortOutage("waypoint", r);
  expectRestarted("pod", "waypoint", before["pid"], before["restarts"]);
}

const std::string kPolicyFile = "90-crash-recovery-policy.yaml";
const std::string kRejected = "keeping last good version";

std::string policyOnV2(const std::string& action) {
  return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
         "  name: crash-recovery\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n"
         "      app: my-app\n      version: v2\n  action: " +
         action +
         "\n  rules:\n  - from:\n    - source:\n        principals: "
         "[\"cluster.local/ns/default/sa/client\"]\n";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(CrashRecoveryTest, ConfigTruncatedMidWriteKeepsTheLastGoodPolicy) {
  auto code = [](const std::string& pod) {
    auto r = lab_->exec("client", {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                                   "http://" + pod_ip(pod) + "/"});
    return std::atoi(r.out.c_str());
  };
  ASSERT_EQ(code("my-app-v2"), 200) << "precondition: no policy yet";
  const std::string deny = policyOnV2("DENY");
  lab_->writeConfig(kPolicyFile, deny);
  ASSERT_TRUE(eventually([&] { return code("my-app-v2") != 200; }, std::chrono::seconds(15)))
      << "the DENY policy never applied";
  const size_t rejected_before = count(lab_->daemonLog("node2", "ztunnel"), kRejected);

  // A writer that died mid-write, in place: the file ends inside the principal's quoted scalar.
  const std::string path = lab_->configDir() + "/" + kPolicyFile;
  {
    std::ofstream f(path, std::ios::trunc);
    f << deny.substr(0, deny.find("cluster.local") + 7);
  }
  ASSERT_TRUE(eventually(
      [&] { return count(lab_->daemonLog("node2", "ztunnel"), kRejected) > rejected_before; },
      std::chrono::seconds(10)))
      << "node2's ztunnel did not reject the truncated file:\n"
      << lab_->daemonLog("node2", "ztunnel");
  EXPECT_THAT(lab_->daemonLog("node1", "agent"), testing::HasSubstr(kRejected));
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(code("my-app-v2"), 200) << "the enforced DENY was dropped by a half-written file";
    EXPECT_EQ(code("my-app-v1"), 200) << "the rest of the config must keep working";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // The writer comes back and writes the whole (changed) file: it applies.
  lab_->writeConfig(kPolicyFile, policyOnV2("ALLOW"));
  EXPECT_TRUE(eventually([&] { return code("my-app-v2") == 200; }, std::chrono::seconds(15)))
      << "the fixed file never applied";
  lab_->removeConfig(kPolicyFile);
}

}  // namespace
}  // namespace ambit::e2e
