#pragma once
// Shared pieces of the ztunnel end-to-end tests: one lab per test suite (up in
// SetUpTestSuite, down in TearDownTestSuite, also after failures), helper scripts run inside
// pod network namespaces, Prometheus text parsing, mesh certificates made with the lab CA, and
// ztunnel processes owned by a test.
//
// Default lab topology: client + my-app-v1 on node1, my-app-v2 on node2 (namespace default,
// service accounts client / my-app), app port 8080.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace ambit::e2e::zt {

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
  // PID / argv of a lab node daemon (status lists them with separate "node" and "name").
  static int daemonPid(const std::string& node, const std::string& daemon);
  static std::vector<std::string> daemonArgv(const std::string& node, const std::string& daemon);
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

// Sum of the samples of `name` whose labels include every pair of `match`.
double metricSum(const std::string& exposition, const std::string& name,
                 const std::map<std::string, std::string>& match);

// A process started by a test (fork + exec, own process group); SIGTERM then SIGKILL on
// destruction unless it has exited.
class OwnedProcess {
 public:
  OwnedProcess() = default;
  OwnedProcess(const OwnedProcess&) = delete;
  OwnedProcess& operator=(const OwnedProcess&) = delete;
  ~OwnedProcess() { stop(); }
  // stdout and stderr go to log_file.
  bool start(const std::vector<std::string>& argv, const std::string& log_file);
  pid_t pid() const { return pid_; }
  bool running();
  // Sends sig; nothing when not running.
  void signal(int sig);
  // Waits for exit; the exit status (128+signal when killed) or nullopt on timeout.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  void stop();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A ztunnel the test runs beside (or instead of) the lab's, in the node netns: the lab
// ztunnel's argv plus `extra` (later flags win in CLI11), with its own admin/stats ports.
std::string scriptPath(const std::string& script);

struct OwnedZtunnel {
  std::string node;
  int admin_port = 0, metrics_port = 0, readiness_port = 0;
  std::string log_file;
  OwnedProcess process;
  // argv: the lab ztunnel's command line (SharedLabTest::daemonArgv).
  bool start(Lab& lab, const std::vector<std::string>& argv, const std::string& node, int port_base,
             const std::vector<std::string>& extra);
};

// Certificates for the third-party HBONE client: keys and leafs under a temp dir.
class TestPki {
 public:
  TestPki();
  ~TestPki();
  struct Leaf {
    std::string cert, key;
  };
  // A P-256 leaf with URI SAN `uri`, signed by the CA in ca_cert/ca_key; `expired` dates it in
  // the past. Empty paths on failure (with a test failure recorded).
  Leaf issue(const std::string& name, const std::string& uri, const std::string& ca_cert,
             const std::string& ca_key, bool expired = false);
  // A self-signed P-256 CA unrelated to the lab's.
  Leaf foreignCa();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int serial_ = 1000;
};

}  // namespace ambit::e2e::zt
