// How long a hot reload of a 100k-pod configuration directory (tests/support/large_mesh.h)
// stalls a daemon's data thread, before and after ConfigPipeline:
//
//   in_loop   the directory watcher runs on the data thread (LoopConfigWatch's way): reading,
//             translating, building the waypoint's MeshIndex and freeing the old one all
//             happen there;
//   pipeline  ConfigPipeline with a DirectorySource: the same work on its config thread, the
//             data thread only swaps the prepared index in.
//
// The data thread is an io_context ticking a timer every 100 µs. Each benchmark loads the
// directory, ticks idle for 200 ms, adds one file (a full reload), waits until the new version
// is applied and the old one freed, and ticks 100 ms more. Reported: the longest stall during
// the reload (how late the most delayed tick fired) as the benchmark's time, plus counters:
// handler_ms (the longest config handler run on the data thread), idle_ms (the longest stall
// before the reload: the machine's noise floor), reload_ms (change written -> applied).
// A summary line per variant goes to stderr.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "common/config/directory_source.h"
#include "common/config/pipeline.h"
#include "common/fd_watch.h"
#include "common/log.h"
#include "tests/support/large_mesh.h"
#include "waypoint/mesh_index.h"

namespace ambit {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kTick = 100us;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The data thread: runs `io` and ticks every kTick, recording the worst lateness per phase.
class DataThread {
 public:
  enum Phase { kIdle, kReload, kPhases };

  DataThread() : timer_(io_) {}
  ~DataThread() { stop(); }

  asio::io_context& io() { return io_; }
  void start() {
    next_ = Clock::now() + kTick;
    arm();
    thread_ = std::thread([this] { io_.run(); });
  }
  void setPhase(Phase p) { phase_ = p; }
  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Valid after stop().
  Clock::duration worstLateness(Phase p) const { return worst_[p]; }
  // Called by config handlers that run on the data thread.
  void recordHandler(Clock::duration d) { worst_handler_ = std::max(worst_handler_, d); }
  Clock::duration worstHandler() const { return worst_handler_; }

 private:
  void arm() {
    timer_.expires_at(next_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto now = Clock::now();
      Clock::duration& worst = worst_[phase_.load()];
      worst = std::max(worst, now - next_);
      next_ = std::max(next_ + kTick, now);
      arm();
    });
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::steady_timer timer_;
  Clock::time_point next_;
  std::atomic<int> phase_{kIdle};
  Clock::duration worst_[kPhases]{};
  Clock::duration worst_handler_{};
  std::thread thread_;
};

// A generated config directory under $TMPDIR, removed on destruction.
class MeshDirectory {
 public:
  explicit MeshDirectory(int workloads) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ambit-stall-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    for (const auto& doc : testdata::largeMesh(workloads)) write(doc.path, doc.content);
  }
  ~MeshDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  // Written beside and renamed, so the watcher never reads half a file.
  void write(const std::string& name, const std::string& content) const {
    const auto tmp = path_ / ("." + name);
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, path_ / name);
  }

 private:
  std::filesystem::path path_;
};

struct StallReport {
  Clock::duration idle{}, reload_stall{}, handler{}, reload{};
};

// With the data thread ticking: 200 ms idle, then adds a file to the directory and waits
// until `applied` (the new version is in use) and `released` (the old one is freed) hold.
StallReport reloadAndWait(DataThread& data, const MeshDirectory& dir,
                          const std::function<bool()>& applied,
                          const std::function<bool()>& released) {
  StallReport report;
  data.start();
  std::this_thread::sleep_for(200ms);
  data.setPhase(DataThread::kReload);
  const auto changed = Clock::now();
  dir.write("30-extra.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra, labels: "
            "{istio.io/dataplane-mode: ambient}}\n");
  const auto deadline = changed + 600s;
  while (!applied() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  report.reload = Clock::now() - changed;
  while (!released() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (!applied() || !released()) throw std::runtime_error("the reload did not complete in 600 s");
  std::this_thread::sleep_for(100ms);
  data.stop();
  report.idle = data.worstLateness(DataThread::kIdle);
  report.reload_stall = data.worstLateness(DataThread::kReload);
  report.handler = data.worstHandler();
  return report;
}

StallReport reloadInLoop(const MeshDirectory& dir) {
  DataThread data;
  std::atomic<int> applied{0};
  std::shared_ptr<const waypoint::MeshIndex> index;
  auto watcher = config::ConfigWatcher::create(
      dir.path(), {},
      [&](std::shared_ptr<const v1::MeshSnapshot> s) {
        auto built = waypoint::MeshIndex::build(std::move(s));
        if (!built) throw std::runtime_error(built.error().message);
        index = *built;
        ++applied;
      },
      nullptr);
  if (!watcher) throw std::runtime_error(watcher.error().message);
  config::ConfigWatcher* raw = watcher->get();
  auto fd_watch = FdWatch::start(data.io(), raw->pollFd(), [&data, raw] {
    const auto t0 = Clock::now();
    if (Status st = raw->handleEvents(); !st) throw std::runtime_error(st.message());
    data.recordHandler(Clock::now() - t0);
    return true;
  });
  if (!fd_watch) throw std::runtime_error(fd_watch.error().message);
  // The old index and snapshot are freed inside the handler that applies the new one.
  return reloadAndWait(
      data, dir, [&] { return applied.load() == 2; }, [] { return true; });
}

// The prepared snapshot of the benchmark's daemon: the waypoint's index, counting its release.
struct PreparedIndex {
  std::shared_ptr<const waypoint::MeshIndex> index;
  std::atomic<int>* released;
  ~PreparedIndex() {
    index.reset();
    ++*released;
  }
};

StallReport reloadWithPipeline(const MeshDirectory& dir) {
  DataThread data;
  std::atomic<int> applied{0}, released{0};
  std::shared_ptr<const PreparedIndex> current;
  config::ConfigPipeline<PreparedIndex>::Stages stages;
  stages.prepare =
      [&released](const config::SnapshotPtr& s) -> Result<std::shared_ptr<const PreparedIndex>> {
    auto built = waypoint::MeshIndex::build(s);
    if (!built) return built.error();
    return std::make_shared<const PreparedIndex>(PreparedIndex{*built, &released});
  };
  stages.apply = [&](std::shared_ptr<const PreparedIndex> p) {
    const auto t0 = Clock::now();
    current = std::move(p);
    data.recordHandler(Clock::now() - t0);
    ++applied;
  };
  auto pipeline = config::ConfigPipeline<PreparedIndex>::start(
      data.io().get_executor(),
      std::make_unique<config::DirectorySource>(dir.path(), config::ConfigWatcher::Options{}),
      std::move(stages));
  if (!pipeline) throw std::runtime_error(pipeline.error().message);
  return reloadAndWait(
      data, dir, [&] { return applied.load() == 2; }, [&] { return released.load() == 1; });
}

void BM_ReloadStall(benchmark::State& state, bool pipeline) {
  spdlog::set_level(spdlog::level::warn);
  const int workloads = static_cast<int>(state.range(0));
  StallReport r;
  for (auto _ : state) {
    MeshDirectory dir(workloads);
    r = pipeline ? reloadWithPipeline(dir) : reloadInLoop(dir);
    state.SetIterationTime(std::chrono::duration<double>(r.reload_stall).count());
  }
  state.counters["handler_ms"] = ms(r.handler);
  state.counters["idle_ms"] = ms(r.idle);
  state.counters["reload_ms"] = ms(r.reload);
  std::cerr << fmt::format(
      "reload of {} pods, {}: longest data-thread stall {:.3f} ms (longest config handler on "
      "the data thread {:.3f} ms; idle noise floor {:.3f} ms; change applied after {:.0f} ms)\n",
      workloads, pipeline ? "ConfigPipeline" : "in the data loop", ms(r.reload_stall),
      ms(r.handler), ms(r.idle), ms(r.reload));
}

BENCHMARK_CAPTURE(BM_ReloadStall, in_loop, false)
    ->Arg(100000)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReloadStall, pipeline, true)
    ->Arg(100000)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ambit
