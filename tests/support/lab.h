#pragma once
// A real lab for end-to-end tests (`ambitctl lab up --name <unique>`): an agent and a ztunnel
// per node, commands run inside pods and node network namespaces, config edits, the daemons'
// admin endpoints, logs and processes. Fixtures tear their lab down in TearDown(TestSuite), also
// after a failed assertion.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace ambit::test {

// A lab named `name` (default topology: client + my-app-v1 on node1, my-app-v2 on node2,
// service my-app 10.96.0.10:80 -> 8080).
class Lab {
 public:
  explicit Lab(std::string name) : name_(std::move(name)) {}
  // lab up (fails the test on error) and waits for every node's ztunnel to be ready / lab down
  // (idempotent). `extra_args` go to `lab up` (e.g. "--waypoint").
  void up(const std::vector<std::string>& extra_args = {});
  void down();
  CommandOutput ctl(const std::vector<std::string>& args);
  nlohmann::json status();
  std::string podIp(const std::string& pod, bool v6 = false);
  std::string configDir();
  std::string runDir();
  // Runs argv inside the pod (its netns and cgroup: capture applies).
  CommandOutput exec(const std::string& pod, const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Writes a YAML file into the lab's config dir atomically (temp + rename); the agents and
  // ztunnels hot-reload it. Returns the steady_clock time of the rename that published it.
  std::chrono::steady_clock::time_point writeConfig(const std::string& file,
                                                    const std::string& yaml);
  void removeConfig(const std::string& file);
  // PID of a node daemon ("agent" / "ztunnel") and its full argv (from /proc/<pid>/cmdline).
  int daemonPid(const std::string& node, const std::string& daemon);
  std::vector<std::string> daemonArgv(const std::string& node, const std::string& daemon);
  std::string daemonLog(const std::string& node, const std::string& daemon);
  // A pod's own log (<run dir>/logs/<pod>.log), e.g. the waypoint's.
  std::string podLog(const std::string& pod);
  // Polls the waypoint pod's readiness (:15021/healthz/ready) until it answers or `timeout`.
  bool waitWaypointReady(std::chrono::seconds timeout = std::chrono::seconds(30));
  // Runs argv inside a node's netns (e.g. curl to the ztunnel's 15020), like a kubelet.
  CommandOutput inNode(const std::string& node, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // GET `url` with curl from the node netns: the body ("" when nothing answered).
  std::string nodeHttpGet(const std::string& node, const std::string& url);
  // A node daemon's admin /config_dump on 127.0.0.1:<port> (15000 ztunnel, 15030 agent); an
  // empty object when it did not answer JSON.
  nlohmann::json adminConfigDump(const std::string& node, int port);
  // Polls that endpoint until its config_version is `version`.
  bool waitForConfigVersion(const std::string& node, int port, const std::string& version,
                            std::chrono::milliseconds timeout = std::chrono::seconds(15));

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace ambit::test
