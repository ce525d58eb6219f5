// The node-daemon extension point, through the library: a daemon spec with placeholders is
// started once per node inside the node netns and its own cgroup, shows up in status, and
// `down` stops it even when it ignores SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli/lab/lab.h"
#include "common/cgroup.h"
#include "tests/support/files.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"

namespace ambit::lab {
namespace {

ino_t inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class NodeDaemonTest : public testing::Test {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(test::missingRoot("creates network namespaces and cgroups"));
    options_.name = "ambitd";
    options_.bin_dir = std::string(AMBIT_BINARY_DIR) + "/bin";
    // Ignores SIGTERM (inherited across exec), so down must fall back to SIGKILL.
    options_.daemons = {NodeDaemonSpec{
        .name = "stubborn",
        .binary = "/bin/sh",
        .args = {"-c",
                 "echo node={node} cgroup={cgroup} state={state_dir} config={config_dir}; "
                 "trap '' TERM; exec sleep 3600"}}};
    ASSERT_TRUE(labDown(options_).isOk());
  }
  void TearDown() override {
    if (test::runningAsRoot()) {
      EXPECT_TRUE(labDown(options_).isOk());
    }
  }
  LabOptions options_;
};

TEST_F(NodeDaemonTest, StartsPerNodeInNodeNetnsAndCgroupAndStopsOnDown) {
  Status up = labUp(options_);
  ASSERT_TRUE(up.isOk()) << up.message();
  // labUp() in this test binary must not start a copy of it (the supervisor is the lab's
  // ambitctl): such a copy ran every lab test again in the background and left a lab up.
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink(proc.path() / "exe", ec);
    if (ec || exe != self) continue;  // (our own short-lived forks before exec are expected)
    const std::string cmdline = test::readFile(proc.path() / "cmdline");
    EXPECT_EQ(cmdline.find("supervise"), std::string::npos)
        << "the test binary runs as the supervisor: " << cmdline;
  }
  auto status = labStatus(options_);
  ASSERT_TRUE(status.isOk()) << status.error().message;
  ASSERT_EQ(status->daemons.size(), 2u);
  auto mount = findCgroup2Mount();
  ASSERT_TRUE(mount.isOk());
  std::vector<int> pids;
  for (const auto& d : status->daemons) {
    ASSERT_TRUE(d.alive) << d.node;
    pids.push_back(d.pid);
    std::string proc = "/proc/" + std::to_string(d.pid);
    EXPECT_EQ(inode(proc + "/ns/net"), inode("/run/netns/ambitd-" + d.node));
    EXPECT_THAT(test::readFile(proc + "/cgroup"),
                testing::HasSubstr("0::/ambitd-lab/system/" + d.node + "-stubborn"));
    std::string log;
    for (int i = 0; i < 100 && log.empty(); ++i) {
      log = test::readFile(d.log_file);
      if (log.empty()) ::usleep(20000);
    }
    EXPECT_THAT(log, testing::HasSubstr("node=" + d.node + " cgroup=" + *mount + "/ambitd-lab/" +
                                        d.node + " state=/run/ambitd-lab/nodes/" + d.node +
                                        " config=/run/ambitd-lab/config"));
  }
  Status again = labUp(options_);
  ASSERT_TRUE(again.isOk()) << again.message();
  auto after = labStatus(options_);
  ASSERT_TRUE(after.isOk());
  EXPECT_EQ(after->daemons[0].pid, pids[0]) << "a second up must keep running daemons";

  auto start = std::chrono::steady_clock::now();
  Status down = labDown(options_);
  ASSERT_TRUE(down.isOk()) << down.message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
      << "SIGTERM is ignored: down must wait its grace period, then SIGKILL";
  for (int pid : pids) {
    EXPECT_TRUE(test::processGone(pid)) << test::readFile("/proc/" + std::to_string(pid) + "/stat");
  }
  EXPECT_FALSE(std::filesystem::exists(*mount + "/ambitd-lab"));
  EXPECT_FALSE(std::filesystem::exists("/run/ambitd-lab"));
}

}  // namespace
}  // namespace ambit::lab
