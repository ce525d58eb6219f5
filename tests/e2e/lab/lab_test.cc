// End-to-end: drives the real `ambitctl lab` binary (as root) with a lab name of its own, so a
// developer's running lab ("ambit") is never touched. Checks real traffic between pods (v4 and
// v6, same node and across nodes), idempotent up, recovery from kill -9 mid-up, and that down
// leaves no netns, link, cgroup, process or file behind.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cgroup.h"

namespace {

const std::string kLab = "ambite2e";
const std::string kCtl = std::string(AMBIT_BINARY_DIR) + "/bin/ambitctl";

struct Output {
  int code = -1;
  std::string text;  // stdout and stderr
};

Output run(const std::string& cmd) {
  Output o;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
  int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

// `ambitctl lab <sub> --name <test lab> <rest>`: the name goes before any `--`.
Output lab(const std::string& sub, const std::string& rest = "") {
  return run(kCtl + " lab " + sub + " --name " + kLab + " " + rest);
}

// `lab up` that stops after `step` (AMBIT_LAB_PAUSE_AFTER) and is then killed with SIGKILL.
void killUpAfter(const std::string& step) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::setenv("AMBIT_LAB_PAUSE_AFTER", step.c_str(), 1);
    ::execl(kCtl.c_str(), kCtl.c_str(), "lab", "up", "--name", kLab.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(pipefd[1]);
  // Read stderr up to the end of the pause line (or EOF if up exits or fails instead).
  std::string err;
  char c;
  while (::read(pipefd[0], &c, 1) == 1) {
    err += c;
    if (c == '\n' && err.find("paused after") != std::string::npos) break;
  }
  ::close(pipefd[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_THAT(err, testing::HasSubstr("paused after " + step + " ")) << err;
  ASSERT_TRUE(WIFSIGNALED(status));
}

bool processGone(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return true;
  auto close = line.rfind(')');
  bool zombie = close != std::string::npos && line.size() > close + 2 && line[close + 2] == 'Z';
  return zombie || line.find("(ambit-sample-ap)") == std::string::npos;
}

class LabTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      std::fprintf(stderr, "\n*** lab_test NOT RUN: needs root (netns, veth, cgroups) ***\n\n");
      GTEST_SKIP() << "needs root";
    }
    auto mount = ambit::findCgroup2Mount();
    ASSERT_TRUE(mount.isOk()) << mount.error().message;
    cgroup_root_ = *mount + "/" + kLab + "-lab";
    ASSERT_EQ(lab("down").code, 0);  // a previous crashed run
  }
  void TearDown() override {
    if (::geteuid() == 0) {
      EXPECT_EQ(lab("down").code, 0);
    }
  }

  nlohmann::json status() {
    Output o = lab("status", "-o json");
    EXPECT_EQ(o.code, 0) << o.text;
    auto j = nlohmann::json::parse(o.text, nullptr, false);
    return j.is_object() ? j : nlohmann::json::object();
  }

  // GET from the client pod (inside its netns and cgroup); returns the parsed JSON reply.
  nlohmann::json get(const std::string& host) {
    Output o = lab("exec", "client -- curl -sS -m 5 http://" + host + ":8080/e2e");
    EXPECT_EQ(o.code, 0) << host << ": " << o.text;
    auto j = nlohmann::json::parse(o.text, nullptr, false);
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
    EXPECT_THAT(ns.text, testing::Not(testing::HasSubstr(kLab + "-"))) << ns.text;
    Output links = run("ip -o link show");
    EXPECT_THAT(links.text, testing::Not(testing::HasSubstr("ambitu"))) << links.text;
    EXPECT_THAT(links.text, testing::Not(testing::HasSubstr("ambitv"))) << links.text;
    EXPECT_THAT(links.text, testing::Not(testing::HasSubstr("ambit0"))) << links.text;
    EXPECT_FALSE(std::filesystem::exists(cgroup_root_)) << cgroup_root_;
    EXPECT_FALSE(std::filesystem::exists("/run/" + kLab + "-lab"));
    for (int pid : pids_) EXPECT_TRUE(processGone(pid)) << "pid " << pid << " still running";
    EXPECT_NE(lab("status").code, 0);
  }

  std::string cgroup_root_;
  std::vector<int> pids_;
};

TEST_F(LabTest, UpTrafficDownTwice) {
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    Output up = lab("up");
    ASSERT_EQ(up.code, 0) << up.text;
    expectHealthy();
    ASSERT_EQ(lab("down").code, 0);
    expectNothingLeft();
    EXPECT_EQ(lab("down").code, 0) << "down must be idempotent";
  }
}

TEST_F(LabTest, UpIsIdempotent) {
  ASSERT_EQ(lab("up").code, 0);
  std::string before = status()["pods"].dump();
  Output again = lab("up");
  ASSERT_EQ(again.code, 0) << again.text;
  EXPECT_EQ(status()["pods"].dump(), before) << "second up must keep the same processes";
  expectHealthy();
  Output bigger = lab("up", "--nodes 3");
  EXPECT_NE(bigger.code, 0);
  EXPECT_THAT(bigger.text, testing::HasSubstr("lab down"));
}

TEST_F(LabTest, ExecRunsInPodNetnsAndCgroupAndForwardsExitCode) {
  ASSERT_EQ(lab("up").code, 0);
  Output cg = lab("exec", "my-app-v2 -- cat /proc/self/cgroup");
  EXPECT_THAT(cg.text, testing::HasSubstr("0::/" + kLab + "-lab/node2/my-app-v2"));
  Output addr = lab("exec", "my-app-v2 -- ip -o addr show dev eth0");
  EXPECT_THAT(addr.text, testing::HasSubstr("10.244.2.10/24"));
  EXPECT_EQ(lab("exec", "client -- sh -c 'exit 7'").code, 7);
  Output bad = lab("exec", "nosuchpod -- true");
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.text, testing::HasSubstr("no pod 'nosuchpod'"));
}

TEST_F(LabTest, DownRemovesHalfCreatedLab) {
  killUpAfter("node:node1");
  ASSERT_EQ(lab("down").code, 0);
  expectNothingLeft();
}

TEST_F(LabTest, UpRecoversAfterKillMidway) {
  for (std::string step : {"pod:client", "app:my-app-v1"}) {
    SCOPED_TRACE(step);
    killUpAfter(step);
    Output up = lab("up");
    ASSERT_EQ(up.code, 0) << up.text;
    expectHealthy();
    ASSERT_EQ(lab("down").code, 0);
    expectNothingLeft();
  }
}

TEST_F(LabTest, BadFlagsAreRejectedClearly) {
  for (std::string n : {"0", "300"}) {
    Output o = lab("up", "--nodes " + n);
    EXPECT_NE(o.code, 0);
    EXPECT_THAT(o.text, testing::HasSubstr("invalid --nodes " + n));
  }
  Output o = run(kCtl + " lab up --name 'Bad_Name'");
  EXPECT_NE(o.code, 0);
  EXPECT_THAT(o.text, testing::HasSubstr("invalid lab name"));
  expectNothingLeft();
}

}  // namespace
