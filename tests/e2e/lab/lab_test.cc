// End-to-end: drives the real `ambitctl lab` binary (as root) with a lab name of its own, so a
// developer's running lab ("ambit") is never touched. Checks real traffic between pods (v4 and
// v6, same node and across nodes), idempotent up, recovery from kill -9 mid-up, and that down
// leaves no netns, link, cgroup, process or file behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cgroup.h"
#include "tests/support/files.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"

namespace {

const std::string kLab = "ambite2e";
const std::string kCtl = ambit::test::binary("ambitctl");

// `cmd` through /bin/sh; `out` holds stdout and stderr together.
using Output = ambit::test::CommandOutput;
Output run(const std::string& cmd) {
  return ambit::test::sh(cmd, std::chrono::seconds(300), /*merge_stderr=*/true);
}

// `ambitctl lab <sub> --name <test lab> <rest>`: the name goes before any `--`.
Output lab(const std::string& sub, const std::string& rest = "") {
  return run(kCtl + " lab " + sub + " --name " + kLab + " " + rest);
}

// `lab up` that stops after `step` (AMBIT_LAB_PAUSE_AFTER) and is then killed with SIGKILL.
void killUpAfter(const std::string& step) {
  ambit::test::Subprocess up;
  ASSERT_TRUE(up.start({.argv = {kCtl, "lab", "up", "--name", kLab},
                        .env = {"AMBIT_LAB_PAUSE_AFTER=" + step},
                        .merge_stderr = true}));
  // Read the output up to the end of the pause line (or EOF if up exits or fails instead).
  std::string out;
  while (auto line =
             up.readLine(ambit::test::Subprocess::Stream::kOut, std::chrono::seconds(300))) {
    out += *line + "\n";
    if (line->find("paused after") != std::string::npos) break;
  }
  up.kill();
  ASSERT_THAT(out, testing::HasSubstr("paused after " + step + " ")) << out;
  ASSERT_EQ(up.waitExit(std::chrono::seconds(0)), 128 + SIGKILL) << "lab up ended by itself";
}

// Gone (or a zombie), or the PID now belongs to another program than the sample app.
bool processGone(int pid) {
  return ambit::test::processGone(pid) ||
         ambit::test::readFile("/proc/" + std::to_string(pid) + "/stat")
                 .find("(ambit-sample-ap)") == std::string::npos;
}

class LabTest : public testing::Test {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(ambit::test::missingRoot("creates network namespaces, veth links and cgroups"));
    auto mount = ambit::findCgroup2Mount();
    ASSERT_TRUE(mount.isOk()) << mount.error().message;
    cgroup_root_ = *mount + "/" + kLab + "-lab";
    ASSERT_EQ(lab("down").exit_code, 0);  // a previous crashed run
  }
  void TearDown() override {
    if (ambit::test::runningAsRoot()) {
      EXPECT_EQ(lab("down").exit_code, 0);
    }
  }

  nlohmann::json status() {
    Output o = lab("status", "-o json");
    EXPECT_EQ(o.exit_code, 0) << o.out;
    auto j = nlohmann::json::parse(o.out, nullptr, false);
    return j.is_object() ? j : nlohmann::json::object();
  }

  // GET from the client pod (inside its netns and cgroup); returns the parsed JSON reply.
  nlohmann::json get(const std::string& host) {
    Output o = lab("exec", "client -- curl -sS -m 5 http://" + host + ":8080/e2e");
    EXPECT_EQ(o.exit_code, 0) << host << ": " << o.out;
    auto j = nlohmann::json::parse(o.out, nullptr, false);
    return j.is_object() ? j : nlohmann::json::object();
  }

  void expectHealthy() {
    nlohmann::json s = status();
    ASSERT_TRUE(s.contains("pods")) << s.dump();
    EXPECT_EQ(s["phase"], "ready");
    ASSERT_EQ(s["nodes"].size(), 2u);
    ASSERT_EQ(s["pods"].size(), 3u);
    for (const auto& pod : s["pods"]) {
      EXPECT_TRUE(pod["alive"].get<bool>()) << pod.dump();
      pids_.push_back(pod["pid"].get<int>());
      if (pod["name"] == "client") continue;
      std::string name = pod["name"];
      EXPECT_EQ(get(pod["ipv4"].get<std::string>())["pod"], name);
      nlohmann::json v6 = get("[" + pod["ipv6"].get<std::string>() + "]");
      EXPECT_EQ(v6["pod"], name);
      EXPECT_EQ(v6["version"], pod["version"]);
      // The lab runs the mesh, which keeps the client's address: the app sees the client (the
      // ztunnel may carry the IPv6 call to the pod's IPv4 endpoint), never another address.
      std::string peer = v6["peer"].get<std::string>();
      EXPECT_TRUE(peer.rfind("[fd00:10:244:1::10]:", 0) == 0 || peer.rfind("10.244.1.10:", 0) == 0)
          << v6.dump();
    }
    EXPECT_EQ(s["pods"][2]["node"], "node2");  // my-app-v2: the cross-node hop
  }

  void expectNothingLeft() {
    Output ns = run("ip netns list");
    EXPECT_THAT(ns.out, testing::Not(testing::HasSubstr(kLab + "-"))) << ns.out;
    Output links = run("ip -o link show");
    EXPECT_THAT(links.out, testing::Not(testing::HasSubstr("ambitu"))) << links.out;
    EXPECT_THAT(links.out, testing::Not(testing::HasSubstr("ambitv"))) << links.out;
    EXPECT_THAT(links.out, testing::Not(testing::HasSubstr("ambit0"))) << links.out;
    EXPECT_FALSE(std::filesystem::exists(cgroup_root_)) << cgroup_root_;
    EXPECT_FALSE(std::filesystem::exists("/run/" + kLab + "-lab"));
    for (int pid : pids_) EXPECT_TRUE(processGone(pid)) << "pid " << pid << " still running";
    EXPECT_NE(lab("status").exit_code, 0);
  }

  std::string cgroup_root_;
  std::vector<int> pids_;
};

TEST_F(LabTest, UpTrafficDownTwice) {
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    Output up = lab("up");
    ASSERT_EQ(up.exit_code, 0) << up.out;
    expectHealthy();
    ASSERT_EQ(lab("down").exit_code, 0);
    expectNothingLeft();
    EXPECT_EQ(lab("down").exit_code, 0) << "down must be idempotent";
  }
}

TEST_F(LabTest, StartedProcessesDoNotInheritTheCallersDescriptors) {
  // A descriptor the caller of `lab up` left open (here a marker file on fd 7; in practice a
  // test harness's flock) must not live on in the daemons, pods and supervisor it starts.
  const std::string marker = "/tmp/" + kLab + "-inherited-fd-marker";
  Output up = run("exec 7>" + marker + "; " + kCtl + " lab up --name " + kLab);
  ASSERT_EQ(up.exit_code, 0) << up.out;
  std::vector<std::string> holders;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd.path(), link_ec) == marker) {
        holders.push_back(ambit::test::readFile(proc.path() / "cmdline"));
      }
    }
  }
  std::filesystem::remove(marker, ec);
  EXPECT_TRUE(holders.empty()) << holders.size() << " processes kept the caller's fd 7, e.g. "
                               << holders.front();
}

TEST_F(LabTest, UpIsIdempotent) {
  ASSERT_EQ(lab("up").exit_code, 0);
  std::string before = status()["pods"].dump();
  Output again = lab("up");
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(status()["pods"].dump(), before) << "second up must keep the same processes";
  expectHealthy();
  Output bigger = lab("up", "--nodes 3");
  EXPECT_NE(bigger.exit_code, 0);
  EXPECT_THAT(bigger.out, testing::HasSubstr("lab down"));
}

TEST_F(LabTest, ExecRunsInPodNetnsAndCgroupAndForwardsExitCode) {
  ASSERT_EQ(lab("up").exit_code, 0);
  Output cg = lab("exec", "my-app-v2 -- cat /proc/self/cgroup");
  EXPECT_THAT(cg.out, testing::HasSubstr("0::/" + kLab + "-lab/node2/my-app-v2"));
  Output addr = lab("exec", "my-app-v2 -- ip -o addr show dev eth0");
  EXPECT_THAT(addr.out, testing::HasSubstr("10.244.2.10/24"));
  EXPECT_EQ(lab("exec", "client -- sh -c 'exit 7'").exit_code, 7);
  Output bad = lab("exec", "nosuchpod -- true");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.out, testing::HasSubstr("no pod 'nosuchpod'"));
}

TEST_F(LabTest, DownRemovesHalfCreatedLab) {
  killUpAfter("node:node1");
  ASSERT_EQ(lab("down").exit_code, 0);
  expectNothingLeft();
}

TEST_F(LabTest, UpRecoversAfterKillMidway) {
  for (std::string step : {"pod:client", "app:my-app-v1"}) {
    SCOPED_TRACE(step);
    killUpAfter(step);
    Output up = lab("up");
    ASSERT_EQ(up.exit_code, 0) << up.out;
    expectHealthy();
    ASSERT_EQ(lab("down").exit_code, 0);
    expectNothingLeft();
  }
}

TEST_F(LabTest, BadFlagsAreRejectedClearly) {
  for (std::string n : {"0", "300"}) {
    Output o = lab("up", "--nodes " + n);
    EXPECT_NE(o.exit_code, 0);
    EXPECT_THAT(o.out, testing::HasSubstr("invalid --nodes " + n));
  }
  Output o = run(kCtl + " lab up --name 'Bad_Name'");
  EXPECT_NE(o.exit_code, 0);
  EXPECT_THAT(o.out, testing::HasSubstr("invalid lab name"));
  expectNothingLeft();
}

}  // namespace
