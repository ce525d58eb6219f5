// ConfigWatcher: reload on change (including new subdirectories), last-good retention on a bad
// change, recovery, no delivery for unchanged content, and no read of a file its writer has
// not closed yet (within the write grace).
#include "common/config/watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

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
    watch(options);
  }

  void watch(const ConfigWatcher::Options& options) {
    watcher_.reset();
    snapshots_.clear();
    error_batches_.clear();
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

// A writer's open file descriptor on `relative` (O_TRUNC), written in pieces.
class OpenWriter {
 public:
  OpenWriter(const test::TempDir& dir, const char* relative)
      : fd_(::open((dir.path() / relative).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0644)) {}
  ~OpenWriter() { close(); }
  bool ok() const { return fd_ >= 0; }
  bool write(std::string_view bytes) {
    return ::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

TEST_F(WatcherTest, HalfWrittenFileIsNotReadUntilItsWriterClosesIt) {
  const std::string next = testing::canaryRoute(60, 40);
  OpenWriter writer(dir_, "vs.yaml");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(std::string_view(next).substr(0, next.size() / 2)));
  // Eight debounce periods with the file cut in the middle and still open: no load at all
  // (without the guard, the half file is read after one period and rejected).
  ASSERT_TRUE(watcher_->runFor(400ms).isOk());
  EXPECT_TRUE(error_batches_.empty()) << error_batches_.front().front().toString();
  EXPECT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(firstWeight(*watcher_->current()), 80u);

  ASSERT_TRUE(writer.write(std::string_view(next).substr(next.size() / 2)));
  writer.close();
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));
  EXPECT_EQ(firstWeight(*watcher_->current()), 60u);
  EXPECT_TRUE(error_batches_.empty());
}

TEST_F(WatcherTest, FileKeptOpenIsLoadedOnceTheWriteGraceIsOver) {
  ConfigWatcher::Options options;
  options.debounce = 50ms;
  options.write_grace = 300ms;
  watch(options);
  OpenWriter writer(dir_, "vs.yaml");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(testing::canaryRoute(60, 40)));
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));  // the fd is still open
  EXPECT_EQ(firstWeight(*watcher_->current()), 60u);
}

TEST_F(WatcherTest, FilesTheLoaderIgnoresDoNotHoldReloadsBack) {
  ConfigWatcher::Options options;
  options.debounce = 50ms;
  options.write_grace = std::chrono::hours(1);  // a held-back reload would never come in time
  watch(options);
  std::filesystem::create_directories(dir_.path() / ".hidden");
  ASSERT_TRUE(watcher_->runFor(200ms).isOk());  // lets the watcher add the new directory
  OpenWriter swap(dir_, ".vs.yaml.swp");        // an editor's swap file, open all along
  OpenWriter notes(dir_, "notes.txt");
  OpenWriter hidden(dir_, ".hidden/x.yaml");
  ASSERT_TRUE(swap.ok() && notes.ok() && hidden.ok());
  ASSERT_TRUE(swap.write("x") && notes.write("x") && hidden.write("x"));
  dir_.write("vs.yaml", testing::canaryRoute(60, 40));
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));
  EXPECT_EQ(firstWeight(*watcher_->current()), 60u);
}

TEST_F(WatcherTest, ADeletedFileBeingWrittenNoLongerHoldsReloadsBack) {
  ConfigWatcher::Options options;
  options.debounce = 50ms;
  options.write_grace = std::chrono::hours(1);
  watch(options);
  OpenWriter writer(dir_, "extra.yaml");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write("apiVersion: v1\nkind: Pod\n"));
  std::filesystem::remove(dir_.path() / "extra.yaml");
  dir_.write("vs.yaml", testing::canaryRoute(60, 40));
  ASSERT_TRUE(runUntil([&] { return snapshots_.size() == 2; }));
  EXPECT_EQ(firstWeight(*watcher_->current()), 60u);
}

TEST(ConfigFile, OnlyVisibleYamlFilesAreRead) {
  EXPECT_TRUE(isConfigFile("vs.yaml"));
  EXPECT_TRUE(isConfigFile("team/pods/p.yml"));
  EXPECT_FALSE(isConfigFile("notes.txt"));
  EXPECT_FALSE(isConfigFile(".vs.yaml.swp"));
  EXPECT_FALSE(isConfigFile(".vs.yaml"));
  EXPECT_FALSE(isConfigFile(".git/x.yaml"));
  EXPECT_FALSE(isConfigFile("team/.cache/x.yaml"));
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
