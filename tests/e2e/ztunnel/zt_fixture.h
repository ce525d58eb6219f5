#pragma once
// Shared pieces of the ztunnel end-to-end tests: one lab per test suite (up in
// SetUpTestSuite, down in TearDownTestSuite, also after failures), helper scripts run inside
// pod network namespaces, mesh certificates made with the lab CA, and ztunnel processes owned by
// a test. The generic parts (lab driver, processes, Prometheus text, PKI) are tests/support's.
//
// Default lab topology: client + my-app-v1 on node1, my-app-v2 on node2 (namespace default,
// service accounts client / my-app), app port 8080.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/lab.h"
#include "tests/support/prometheus.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait.h"

namespace ambit::e2e::zt {

// The test library (tests/support) by the names the ztunnel suites use.
using test::CommandOutput;
using test::eventually;
using test::Lab;
using test::metricSum;
using test::run;
using test::sh;

inline constexpr int kAppPort = 8080;
inline const std::string kClientId = "spiffe://cluster.local/ns/default/sa/client";

// A lab shared by every test of a suite. Derived fixtures pick the name.
class SharedLabTest : public testing::Test {
 public:
  // Brings the lab up unless it already is (suites share it); another shared lab goes down.
  static void upLab(const std::string& name);
  static void downLab();

 protected:
  void SetUp() override;  // skips loudly without root; fails when the suite's lab is not up
  static Lab& lab() { return *lab_; }
  // Outputs of `script` (under tests/e2e/ztunnel/) run by Debian's /usr/bin/python3 in `pod`.
  static CommandOutput py(const std::string& pod, const std::string& script,
                          const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // py(...) whose stdout is one JSON object; a parse failure yields a null json.
  static nlohmann::json pyJson(const std::string& pod, const std::string& script,
                               const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // HTTP status code of a curl from `pod` (0 when the connection failed).
  static int curlStatus(const std::string& pod, const std::string& url, int max_seconds = 5);
  // Runs argv in the pod's netns but outside its cgroup: not captured, like a peer outside
  // the mesh that shares the pod's address (for raw clients of 15008 and friends).
  static CommandOutput inPodNetns(const std::string& pod, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // tcp_probe.py / hbone_client.py run that way.
  static nlohmann::json pyNetns(const std::string& pod, const std::string& script,
                                const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60));
  static std::string ip(const std::string& pod);
  static std::string appUrl(const std::string& pod, const std::string& path = "/");
  static std::string metrics(const std::string& node, int port = 15020);
  static nlohmann::json configDump(const std::string& node, int admin_port = 15000);
  static bool ready(const std::string& node, int port = 15021);

  static std::unique_ptr<Lab> lab_;
  static bool lab_up_;
  static std::map<std::string, std::string> ips_;
  static std::map<std::string, std::string> netns_;
};

// The lab most suites share (traffic, third-party client, policy, metrics, bad input); it
// goes down when another lab is needed or the program ends. Tests that change the config
// remove their files again.
class MeshTest : public SharedLabTest {
 protected:
  static void SetUpTestSuite() { upLab("ambitzt"); }
};

// <source dir>/tests/e2e/ztunnel/<script>.
std::string scriptPath(const std::string& script);

// A ztunnel the test runs beside (or instead of) the lab's, in the node netns: the lab
// ztunnel's argv plus `extra` (later flags win in CLI11), with its own admin/stats ports.
struct OwnedZtunnel {
  std::string node;
  int admin_port = 0, metrics_port = 0, readiness_port = 0;
  std::string log_file;
  test::Subprocess process;
  // argv: the lab ztunnel's command line (Lab::daemonArgv).
  bool start(Lab& lab, const std::vector<std::string>& argv, const std::string& node, int port_base,
             const std::vector<std::string>& extra);
};

// A client certificate for `uri` signed by the lab's CA (<run dir>/ca/ca-cert.pem and
// ca-key.pem), written as <dir>/<name>.pem and .key for the third-party HBONE client.
test::PemFiles labLeaf(Lab& lab, const test::TempDir& dir, const std::string& name,
                       const std::string& uri,
                       test::TestPki::Validity validity = test::TestPki::Validity::kCurrent);

}  // namespace ambit::e2e::zt
