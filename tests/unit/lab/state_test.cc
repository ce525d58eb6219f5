#include "cli/lab/state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace ambit::lab {
namespace {

class StateFile : public testing::Test {
 protected:
  test::TempDir dir_{"ambit-lab-state"};
  const std::string path_ = dir_.file("state.json");
};

TEST_F(StateFile, RoundTrips) {
  LabState s;
  s.lab = "t";
  s.phase = "ready";
  s.nodes = 3;
  s.run_dir = "/run/t-lab";
  s.config_dir = "/run/t-lab/config";
  s.bin_dir = "/b";
  s.netns = {"t-underlay", "t-node1"};
  s.cgroups = {"/cg/t-lab", "/cg/t-lab/node1"};
  s.dirs = {"/run/t-lab"};
  s.files = {"/run/t-lab/config/10-pods.yaml"};
  s.processes = {{"app", "client", 42, 123456789012ull, "/run/t-lab/logs/client.log"},
                 {"daemon", "node1/agent", 0, 0, "/l"}};
  ASSERT_TRUE(saveState(path_, s).isOk());
  auto back = loadState(path_);
  ASSERT_TRUE(back.isOk()) << back.error().message;
  EXPECT_EQ(toJson(*back), toJson(s));
  EXPECT_EQ(back->processes[0].start_time, 123456789012ull);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
}

TEST_F(StateFile, MissingIsEnoent) {
  auto r = loadState(path_);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST_F(StateFile, CorruptIsAClearError) {
  std::ofstream(path_) << "{\"version\": 1, \"lab\": ";
  auto r = loadState(path_);
  ASSERT_FALSE(r.isOk());
  EXPECT_THAT(r.error().message, testing::HasSubstr("not valid JSON"));
  std::ofstream(path_) << "{\"version\": 1}";
  r = loadState(path_);
  ASSERT_FALSE(r.isOk());
  EXPECT_THAT(r.error().message, testing::HasSubstr("malformed lab state"));
}

TEST(LabState, AddUniqueKeepsOrderAndSkipsDuplicates) {
  std::vector<std::string> v;
  EXPECT_TRUE(LabState::addUnique(v, "a"));
  EXPECT_TRUE(LabState::addUnique(v, "b"));
  EXPECT_FALSE(LabState::addUnique(v, "a"));
  EXPECT_EQ(v, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace ambit::lab
