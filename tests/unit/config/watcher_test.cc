// ConfigWatcher: reload on change (including new subdirectories), last-good retention on a bad
// change, recovery, and no delivery for unchanged content.
#include "common/config/watcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "tests/support/temp_dir.h"
#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using namespace std::chrono_literals;

uint32_t firstWeight(const v1::MeshSnapshot& s) {
  return s.route_tables(0).http(0).destinations(0).weight();
}

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("vs.yaml", testing::canaryRoute(80, 20));
    dir_.write("dr.yaml", testing::kCanaryRule);
    ConfigWatcher::Options options;
    options.debounce = 50ms;
    auto w = ConfigWatcher::create(
        dir_.path(), options,
        [this](std::shared_ptr<const v1::MeshSnapshot> s) { snapshots_.push_back(std::move(s)); },
        [this](const ConfigErrors& e) { error_batches_.push_back(e); });
    ASSERT_TRUE(w) << w.error().message;
    watcher_ = std::move(w.value());
  }

  // Runs the watcher until `done` holds; false after 5s.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      EXPECT_TRUE(watcher_->runFor(20ms).isOk());
    }
    return true;
  }

  test::TempDir dir_;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::vector<std::shared_ptr<const v1::MeshSnapshot>> snapshots_;
  std::vector<ConfigErrors> error_batches_;
};

TEST_F(WatcherTest, InitialLoadIsDeliveredSynchronously) {
  ASSERT_EQ(snapshots_.size(), 1u);
  ASSERT_NE(watcher_->current(), nullptr);
  EXPECT_EQ(firstWeight(*watcher_->current()), 80u);
  EXPECT_GE(watcher_->pollFd(), 0);
}

TEST_F(WatcherTest, EditReloadsBadEditKeepsLastGoodThenRecovers) {
  dir_.write("vs.yaml", testing::canaryRoute(70, 30));
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));
  EXPECT_EQ(firstWeight(*watcher_->current()), 70u);
  const std::string good_version = watcher_->current()->version();

  dir_.write("vs.yaml", testing::canaryRoute(70, 20));
  ASSERT_TRUE(runUntil([&] { return !error_batches_.empty(); }));
  ASSERT_EQ(error_batches_.back().size(), 1u);
  EXPECT_NE(error_batches_.back()[0].reason.find("route weights sum to 90"), std::string::npos);
  EXPECT_EQ(snapshots_.size(), 2u) << "a bad change delivers no snapshot";
  EXPECT_EQ(watcher_->current()->version(), good_version) << "last good stays in force";
  EXPECT_EQ(firstWeight(*watcher_->current()), 70u);
  EXPECT_FALSE(watcher_->lastErrors().empty());

  dir_.write("vs.yaml", testing::canaryRoute(50, 50));
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 3; }));
  EXPECT_EQ(firstWeight(*watcher_->current()), 50u);
  EXPECT_TRUE(watcher_->lastErrors().empty());
}

TEST_F(WatcherTest, NewFileInNewSubdirectoryIsPickedUp) {
  std::filesystem::create_directories(dir_.path() / "team" / "pods");
  ASSERT_TRUE(watcher_->runFor(200ms).isOk());  // lets the watcher add the new directories
  dir_.write("team/pods/pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));
  EXPECT_EQ(watcher_->current()->workloads_size(), 1);
}

TEST_F(WatcherTest, UnchangedContentIsNotRedelivered) {
  dir_.write("vs.yaml", testing::canaryRoute(80, 20));  // same bytes, new inode
  ASSERT_TRUE(watcher_->runFor(400ms).isOk());
  EXPECT_EQ(snapshots_.size(), 1u);
  EXPECT_TRUE(error_batches_.empty());
}

TEST(Watcher, MissingDirectoryFailsCreate) {
  auto w = ConfigWatcher::create("/nonexistent/ambit", {}, nullptr, nullptr);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("not a directory"), std::string::npos);
}

TEST(Watcher, BadInitialDirectoryHasNoCurrentSnapshot) {
  test::TempDir dir;
  dir.write("bad.yaml", "kind: [");
  size_t error_calls = 0;
  auto w =
      ConfigWatcher::create(dir.path(), {}, nullptr, [&](const ConfigErrors&) { ++error_calls; });
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w.value()->current(), nullptr);
  EXPECT_EQ(error_calls, 1u);
}

}  // namespace
}  // namespace ambit::config
