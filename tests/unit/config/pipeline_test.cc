// ConfigPipeline: prepare() runs on the config thread and apply() on the data thread only; start()
// applies the first version (waiting for a late one up to its deadline); a rejected change or a
// failed prepare() keeps the last good snapshot and is reported; replaced snapshots are
// destroyed off the data thread; queued versions coalesce; destroying the pipeline with a
// reload in flight joins and delivers nothing more.
//
// The test thread plays the data thread: it runs `io_` (and nothing else does).
#include "common/config/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/config/directory_source.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr auto kWait = 5s;

SnapshotPtr version(const std::string& v) {
  auto s = std::make_shared<v1::MeshSnapshot>();
  s->set_version(v);
  return s;
}

// What happened on the config thread, seen from the test thread.
class Journal {
 public:
  void prepared(const std::string& version) {
    std::lock_guard lock(mu_);
    prepared_.push_back(version);
    prepare_threads_.insert(std::this_thread::get_id());
    cv_.notify_all();
  }
  void destroyed(const std::string& version) {
    std::lock_guard lock(mu_);
    destroyed_on_[version] = std::this_thread::get_id();
    cv_.notify_all();
  }
  // Blocks until `version` was prepared `times` times in all; false after kWait.
  bool waitPrepared(const std::string& version, size_t times = 1) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] {
      return static_cast<size_t>(std::count(prepared_.begin(), prepared_.end(), version)) >= times;
    });
  }
  // The thread that destroyed `version`; none after kWait.
  std::optional<std::thread::id> waitDestroyed(const std::string& version) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kWait, [&] { return destroyed_on_.count(version) > 0; })) return {};
    return destroyed_on_[version];
  }
  std::vector<std::string> preparedVersions() {
    std::lock_guard lock(mu_);
    return prepared_;
  }
  std::set<std::thread::id> prepareThreads() {
    std::lock_guard lock(mu_);
    return prepare_threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> prepared_;
  std::set<std::thread::id> prepare_threads_;
  std::map<std::string, std::thread::id> destroyed_on_;
};

// What the test daemon prepares: it reports its own destruction to the journal.
struct Prepared {
  Prepared(std::string v, Journal& j) : version(std::move(v)), journal(j) {}
  ~Prepared() { journal.destroyed(version); }
  std::string version;
  Journal& journal;
};

// A one-shot gate the config thread can wait on while the test thread acts.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A source the test drives: publish() called on the test thread reaches the sink on the config
// thread, in order. Its first version comes during start(), after it (`later`: as a remote
// source's first sync would), or never (null).
class ScriptedSource final : public ConfigSource {
 public:
  explicit ScriptedSource(SnapshotPtr initial, bool later = false)
      : initial_(std::move(initial)), later_(later) {}
  Status start(asio::io_context& config_io, ConfigSink& sink) override {
    io_ = &config_io;
    sink_ = &sink;
    if (initial_ && later_) publish(initial_);
    if (initial_ && !later_) sink.publish(initial_);
    return Status::ok();
  }
  std::string name() const override { return "scripted"; }

  void publish(SnapshotPtr s) {
    asio::post(*io_, [this, s = std::move(s)] { sink_->publish(s); });
  }

 private:
  SnapshotPtr initial_;
  bool later_;
  asio::io_context* io_ = nullptr;
  ConfigSink* sink_ = nullptr;
};

class PipelineTest : public ::testing::Test {
 protected:
  // prepare() of the test daemon: "fail" is refused, "slow" waits for slow_gate_.
  Result<std::shared_ptr<const Prepared>> prepare(const SnapshotPtr& s) {
    journal_.prepared(s->version());
    if (s->version() == "fail") return makeError("policy ns/p: no such principal");
    if (s->version() == "slow") slow_gate_.wait();
    return std::make_shared<const Prepared>(s->version(), journal_);
  }

  Status start(std::unique_ptr<ConfigSource> source,
               std::chrono::milliseconds first_version_wait = kNoDeadline) {
    ConfigPipeline<Prepared>::Stages stages;
    stages.prepare = [this](const SnapshotPtr& s) { return prepare(s); };
    stages.apply = [this](std::shared_ptr<const Prepared> p) {
      data_threads_.insert(std::this_thread::get_id());
      applied_.push_back(p->version);
      current_ = std::move(p);
    };
    stages.on_rejected = [this](const ConfigErrors& errors) {
      data_threads_.insert(std::this_thread::get_id());
      rejections_.push_back(errors);
    };
    auto p = ConfigPipeline<Prepared>::start(io_.get_executor(), std::move(source),
                                             std::move(stages), first_version_wait);
    if (!p) return p.error();
    pipeline_ = std::move(*p);
    return Status::ok();
  }

  ScriptedSource& startScripted(const std::string& initial) {
    auto source = std::make_unique<ScriptedSource>(version(initial));
    ScriptedSource* raw = source.get();
    EXPECT_TRUE(start(std::move(source)).isOk());
    return *raw;
  }

  // Runs the data thread until `done` holds; false after kWait.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  Journal journal_;  // outlives every Prepared
  Gate slow_gate_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::shared_ptr<const Prepared> current_;
  std::vector<std::string> applied_;
  std::vector<ConfigErrors> rejections_;
  std::set<std::thread::id> data_threads_;
  std::unique_ptr<ConfigPipeline<Prepared>> pipeline_;  // destroyed first, on this thread
};

TEST_F(PipelineTest, PreparesOnTheConfigThreadAndAppliesOnlyOnTheDataThread) {
  ScriptedSource& source = startScripted("v1");
  EXPECT_EQ(applied_, std::vector<std::string>{"v1"}) << "the initial version is applied in start";

  source.publish(version("v2"));
  ASSERT_TRUE(journal_.waitPrepared("v2"));
  EXPECT_EQ(applied_.size(), 1u) << "applied only when the data thread runs";
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 2; }));
  EXPECT_EQ(current_->version, "v2");

  EXPECT_EQ(data_threads_, std::set<std::thread::id>{std::this_thread::get_id()});
  const auto prepare_threads = journal_.prepareThreads();
  ASSERT_EQ(prepare_threads.size(), 1u);
  EXPECT_NE(*prepare_threads.begin(), std::this_thread::get_id());
}

TEST_F(PipelineTest, StartWaitsForAFirstVersionThatComesAfterTheSourceStarted) {
  ASSERT_TRUE(start(std::make_unique<ScriptedSource>(version("v1"), /*later=*/true)).isOk());
  EXPECT_EQ(applied_, std::vector<std::string>{"v1"});
  EXPECT_EQ(data_threads_, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(PipelineTest, StartGivesUpWaitingAfterTheDeadlineAndTheFirstVersionIsPostedLater) {
  auto source = std::make_unique<ScriptedSource>(nullptr);
  ScriptedSource* raw = source.get();
  ASSERT_TRUE(start(std::move(source), 1ms).isOk());
  EXPECT_TRUE(applied_.empty());
  raw->publish(version("v1"));
  ASSERT_TRUE(journal_.waitPrepared("v1"));
  EXPECT_TRUE(applied_.empty()) << "applied only when the data thread runs";
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 1; }));
  EXPECT_EQ(current_->version, "v1");
}

TEST_F(PipelineTest, RejectedChangeKeepsTheLastGoodAndReportsEveryProblem) {
  test::TempDir dir;
  dir.write("vs.yaml", testing::canaryRoute(80, 20));
  dir.write("dr.yaml", testing::kCanaryRule);
  ConfigWatcher::Options options;
  options.debounce = 20ms;
  ASSERT_TRUE(start(std::make_unique<DirectorySource>(dir.path(), options)).isOk());
  ASSERT_EQ(applied_.size(), 1u);
  const std::string good = applied_[0];

  dir.write("vs.yaml", testing::canaryRoute(70, 20));
  ASSERT_TRUE(runUntil([&] { return !rejections_.empty(); }));
  ASSERT_EQ(rejections_[0].size(), 1u);
  EXPECT_EQ(rejections_[0][0].toString(),
            (dir.path() / "vs.yaml").string() +
                ":8: VirtualService default/my-app: spec.http[0].route: route weights sum to 90, "
                "must be 100");
  EXPECT_EQ(applied_.size(), 1u);
  EXPECT_EQ(current_->version, good) << "the last good snapshot stays";

  dir.write("vs.yaml", testing::canaryRoute(50, 50));
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 2; }));
  EXPECT_NE(current_->version, good);
  EXPECT_EQ(data_threads_, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(PipelineTest, BadInitialDirectoryIsReportedInStartAndAGoodOneAppliedLater) {
  test::TempDir dir;
  dir.write("bad.yaml", "kind: [");
  ConfigWatcher::Options options;
  options.debounce = 20ms;
  ASSERT_TRUE(start(std::make_unique<DirectorySource>(dir.path(), options)).isOk());
  EXPECT_TRUE(applied_.empty());
  ASSERT_EQ(rejections_.size(), 1u) << "reported before start returns";

  std::filesystem::remove(dir.path() / "bad.yaml");
  dir.write("dr.yaml", testing::kCanaryRule);
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 1; }));
  EXPECT_NE(current_, nullptr);
}

TEST_F(PipelineTest, PrepareFailureKeepsTheLastGoodAndIsReported) {
  ScriptedSource& source = startScripted("v1");
  source.publish(version("fail"));
  ASSERT_TRUE(runUntil([&] { return !rejections_.empty(); }));
  ASSERT_EQ(rejections_[0].size(), 1u);
  EXPECT_EQ(rejections_[0][0].toString(), "scripted: version fail: policy ns/p: no such principal");
  EXPECT_EQ(applied_, std::vector<std::string>{"v1"});
  EXPECT_EQ(current_->version, "v1");

  source.publish(version("v3"));
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 2; }));
  EXPECT_EQ(current_->version, "v3");
}

TEST_F(PipelineTest, ReplacedSnapshotsAreDestroyedOnTheConfigThread) {
  ScriptedSource& source = startScripted("v1");
  source.publish(version("v2"));
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 2; }));  // apply drops v1 here
  const auto v1_gone = journal_.waitDestroyed("v1");
  ASSERT_TRUE(v1_gone.has_value());
  EXPECT_NE(*v1_gone, std::this_thread::get_id());
  EXPECT_EQ(*v1_gone, *journal_.prepareThreads().begin());

  // A request still holding v2 when v3 arrives drops the last reference on the data thread.
  std::shared_ptr<const Prepared> request = current_;
  source.publish(version("v3"));
  ASSERT_TRUE(runUntil([&] { return applied_.size() == 3; }));
  request.reset();
  const auto v2_gone = journal_.waitDestroyed("v2");
  ASSERT_TRUE(v2_gone.has_value());
  EXPECT_NE(*v2_gone, std::this_thread::get_id());
}

TEST_F(PipelineTest, VersionsQueuedDuringAPrepareCoalesceToTheNewest) {
  ScriptedSource& source = startScripted("v1");
  source.publish(version("slow"));
  ASSERT_TRUE(journal_.waitPrepared("slow"));
  source.publish(version("v3"));
  source.publish(version("v4"));
  slow_gate_.open();
  ASSERT_TRUE(runUntil([&] { return !applied_.empty() && applied_.back() == "v4"; }));
  EXPECT_EQ(journal_.preparedVersions(), (std::vector<std::string>{"v1", "slow", "v4"}));
  EXPECT_EQ(applied_, (std::vector<std::string>{"v1", "slow", "v4"}));
}

TEST_F(PipelineTest, DestroyingWithAPrepareInFlightJoinsAndDeliversNothingMore) {
  ScriptedSource& source = startScripted("v1");
  source.publish(version("slow"));
  ASSERT_TRUE(journal_.waitPrepared("slow"));
  source.publish(version("v3"));
  slow_gate_.open();
  pipeline_.reset();  // waits for the prepare in flight
  io_.poll();         // whatever was posted before the pipeline stopped
  EXPECT_EQ(applied_, std::vector<std::string>{"v1"});
  EXPECT_TRUE(rejections_.empty());
  EXPECT_TRUE(journal_.waitDestroyed("slow").has_value()) << "the dropped result is freed";
}

TEST_F(PipelineTest, DestroyingWithADebouncedChangePendingJoins) {
  test::TempDir dir;
  dir.write("dr.yaml", testing::kCanaryRule);
  ConfigWatcher::Options options;
  options.debounce = std::chrono::hours(1);
  ASSERT_TRUE(start(std::make_unique<DirectorySource>(dir.path(), options)).isOk());
  dir.write("vs.yaml", testing::canaryRoute(80, 20));
  pipeline_.reset();
  io_.poll();
  EXPECT_EQ(applied_.size(), 1u);
}

TEST_F(PipelineTest, SourceThatCannotStartFailsStart) {
  Status st =
      start(std::make_unique<DirectorySource>("/nonexistent/ambit", ConfigWatcher::Options{}));
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("/nonexistent/ambit: not a directory"), std::string::npos)
      << st.message();
  EXPECT_EQ(pipeline_, nullptr);
}

}  // namespace
}  // namespace ambit::config
