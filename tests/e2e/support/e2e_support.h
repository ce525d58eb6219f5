#pragma once
// Shared helpers for end-to-end tests: a real lab (ambitctl lab up --name <unique>) with an
// agent and a ztunnel per node, commands run inside pods, config edits, process control.
// Every fixture tears its lab down in TearDown, also after a failed assertion.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ambit::e2e {

struct CommandOutput {
  int exit_code = -1;  // 128+signal when killed; -1 when it could not start
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH), capturing output; killed after `timeout`.
CommandOutput run(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
// /bin/sh -c
CommandOutput sh(const std::string& script,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

std::string binary(const std::string& name);  // AMBIT_BINARY_DIR/bin/<name>

// Skips the test loudly unless running as root.
#define AMBIT_REQUIRE_ROOT()                                                            \
  do {                                                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED LOUDLY: end-to-end tests need root"; \
  } while (0)

// A lab named `name` (default topology: client + my-app-v1 on node1, my-app-v2 on node2,
// service my-app 10.96.0.10:80 -> 8080).
class Lab {
 public:
  explicit Lab(std::string name) : name_(std::move(name)) {}
  // lab up (fails the test on error) / lab down (idempotent). `extra_args` go to `lab up`
  // (e.g. "--waypoint").
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
  // ztunnels hot-reload it.
  void writeConfig(const std::string& file, const std::string& yaml);
  void removeConfig(const std::string& file);
  // PID of a node daemon ("agent" / "ztunnel") and its full argv (from /proc/<pid>/cmdline).
  int daemonPid(const std::string& node, const std::string& daemon);
  std::vector<std::string> daemonArgv(const std::string& node, const std::string& daemon);
  std::string daemonLog(const std::string& node, const std::string& daemon);
  // A pod's own log (<run dir>/logs/<pod>.log), e.g. the waypoint's.
  std::string podLog(const std::string& pod);
  // Polls the waypoint pod's readiness (:15021/healthz/ready) until it answers or `timeout`.
  bool waitWaypointReady(std::chrono::seconds timeout = std::chrono::seconds(30));
  // Runs `cmd` inside a node's netns (e.g. curl to the ztunnel's 15020), like a kubelet.
  CommandOutput inNode(const std::string& node, const std::vector<std::string>& argv);
  // GET http://<addr>:<port><path> from the node netns.
  std::string nodeHttpGet(const std::string& node, const std::string& url);

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Polls fn() every 50ms until it returns true or `timeout` passes; returns the last result.
bool eventually(const std::function<bool()>& fn,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ambit::e2e
