#include "tests/support/lab.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/files.h"
#include "tests/support/wait.h"

namespace ambit::test {

CommandOutput Lab::ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary("ambitctl"), "lab"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--name");
  argv.push_back(name_);
  return run(argv, std::chrono::seconds(120));
}

void Lab::up(const std::vector<std::string>& extra_args) {
  std::vector<std::string> args{"up"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto r = ctl(args);
  ASSERT_EQ(r.exit_code, 0) << "lab up failed:\n" << r.out << r.err;
  // Ready = every node's ztunnel reports ready (hand-off synced, config loaded).
  const nlohmann::json st = status();  // alive for the loop
  for (const auto& node : st["nodes"]) {
    std::string n = node["name"];
    bool ready = eventually(
        [&] {
          return inNode(n, {"curl", "-sf", "-m", "1", "http://127.0.0.1:15021/healthz/ready"})
                     .exit_code == 0;
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(ready) << "ztunnel on " << n << " never became ready:\n" << daemonLog(n, "ztunnel");
  }
}

void Lab::down() {
  auto r = ctl({"down"});
  EXPECT_EQ(r.exit_code, 0) << "lab down failed:\n" << r.out << r.err;
}

nlohmann::json Lab::status() {
  auto r = ctl({"status", "-o", "json"});
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string Lab::podIp(const std::string& pod, bool v6) {
  const nlohmann::json st = status();
  for (const auto& p : st["pods"]) {
    if (p["name"] == pod) return p[v6 ? "ipv6" : "ipv4"];
  }
  ADD_FAILURE() << "no pod " << pod << " in lab " << name_;
  return "";
}

std::string Lab::configDir() { return status()["config_dir"]; }
std::string Lab::runDir() { return status()["run_dir"]; }

CommandOutput Lab::exec(const std::string& pod, const std::vector<std::string>& argv,
                        std::chrono::milliseconds timeout) {
  std::vector<std::string> a{binary("ambitctl"), "lab", "exec", "--name", name_, pod, "--"};
  a.insert(a.end(), argv.begin(), argv.end());
  return run(a, timeout);
}

std::chrono::steady_clock::time_point Lab::writeConfig(const std::string& file,
                                                       const std::string& yaml) {
  const std::filesystem::path target = std::filesystem::path(configDir()) / file;
  const auto tmp = target.parent_path() / ("." + file + ".tmp");
  writeFile(tmp, yaml);
  const auto published = std::chrono::steady_clock::now();
  std::filesystem::rename(tmp, target);
  return published;
}

void Lab::removeConfig(const std::string& file) {
  std::filesystem::remove(configDir() + "/" + file);
}

int Lab::daemonPid(const std::string& node, const std::string& daemon) {
  const nlohmann::json st = status();
  for (const auto& d : st["daemons"]) {
    if (d.value("node", "") == node && d.value("name", "") == daemon) return d.value("pid", -1);
  }
  ADD_FAILURE() << "no daemon " << node << "/" << daemon << " in lab " << name_ << ": "
                << st.dump();
  return -1;
}

std::vector<std::string> Lab::daemonArgv(const std::string& node, const std::string& daemon) {
  return processArgv(daemonPid(node, daemon));
}

std::string Lab::podLog(const std::string& pod) {
  return readFile(runDir() + "/logs/" + pod + ".log");
}

bool Lab::waitWaypointReady(std::chrono::seconds timeout) {
  return eventually(
      [&] {
        return exec("waypoint", {"curl", "-sf", "-m", "1", "http://127.0.0.1:15021/healthz/ready"})
                   .exit_code == 0;
      },
      timeout);
}

std::string Lab::daemonLog(const std::string& node, const std::string& daemon) {
  return readFile(runDir() + "/logs/" + node + "-" + daemon + ".log");
}

CommandOutput Lab::inNode(const std::string& node, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) {
  std::vector<std::string> a{"ip", "netns", "exec", name_ + "-" + node};
  a.insert(a.end(), argv.begin(), argv.end());
  return run(a, timeout);
}

std::string Lab::nodeHttpGet(const std::string& node, const std::string& url) {
  return inNode(node, {"curl", "-sS", "-m", "5", url}).out;
}

nlohmann::json Lab::adminConfigDump(const std::string& node, int port) {
  auto j = nlohmann::json::parse(
      nodeHttpGet(node, "http://127.0.0.1:" + std::to_string(port) + "/config_dump"), nullptr,
      false);
  return j.is_object() ? j : nlohmann::json::object();
}

bool Lab::waitForConfigVersion(const std::string& node, int port, const std::string& version,
                               std::chrono::milliseconds timeout) {
  return test::waitForConfigVersion(
      [&] {
        return nodeHttpGet(node, "http://127.0.0.1:" + std::to_string(port) + "/config_dump");
      },
      version, timeout);
}

}  // namespace ambit::test
