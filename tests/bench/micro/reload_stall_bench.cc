// How long a hot reload of a 100k-pod configuration directory (tests/support/large_mesh.h)
// stalls a daemon's data thread, before and after ConfigPipeline:
//
//   in_loop   the directory watcher runs on the data thread (LoopConfigWatch's way): reading,
//             translating, building the waypoint's MeshIndex and freeing the old one all
//             happen there;
//   pipeline  ConfigPipeline with a DirectorySource: the same work on its config thread, the
//             data thread only swaps the prepared index in;
//   pipeline_rt  the same with the data thread at real-time priority (SCHED_FIFO, needs root):
//             other processes on a busy machine cannot delay it, so what is left is what the
//             pipeline itself does to the data thread.
//
// The data thread is an io_context ticking a timer every 100 µs. Each benchmark loads the
// directory, ticks idle for 10 s (about as long as a 100k-pod reload takes here), adds one file
// (a full reload), waits until the new version is applied and the old one freed, and ticks
// 100 ms more. The benchmark's time is the longest stall during the reload (how late the most
// delayed tick fired); the idle ticks give the machine's floor over a window about as long.
// (On this project's VMs even a bare SCHED_FIFO thread sleeping to 100 µs deadlines with
// nothing else running sees a tick or two 1-4 ms late in 10 s: BENCHMARKS.md, session 20.)
//
// Kernel threads that reclaim memory (DAMON's kdamond, kswapd, kcompactd) run long stretches in
// the kernel between preemption points: a real-time thread woken on their CPU waits for the
// next one, and a timer due meanwhile can fire late. On these VMs DAMON's pageout scheme (set
// up by the VM's kernel, not by us) runs about twice a second for 1-5 ms. Each tick reads
// those threads' CPU time (/proc/PID/schedstat, ~1 µs); a late tick is attributed to kernel
// reclaim when they ran at least half as long as it was late and one that ran last ran on the
// data thread's CPU (/proc/PID/stat, read on late ticks only).
//
// Counters: handler_ms (the longest config handler that ran on the data thread), late_ticks
// and idle_late_ticks (ticks more than 1 ms late during the reload, and idle),
// reclaim_late_ticks and idle_reclaim_late_ticks (of them, those attributed to kernel reclaim),
// clear_ms and clear_idle_ms (the longest stall of the ticks not attributed to it),
// reclaim_ms and reclaim_idle_ms (those threads' CPU time, ms per second), runq_wait_ms (how
// long the data thread was runnable but had no CPU during the reload: on a busy machine, the
// scheduler's share of the lateness), idle_ms (the longest stall of the idle ticks),
// applied_ms (change written -> applied). A summary line per variant goes to stderr.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/config/directory_source.h"
#include "common/config/pipeline.h"
#include "common/fd_watch.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "tests/support/large_mesh.h"
#include "tests/support/temp_dir.h"
#include "waypoint/mesh_index.h"

namespace ambit {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kTick = 100us;
// The idle ticks before the reload: about as long as a 100k-pod reload takes here (10-11 s).
constexpr auto kIdleWindow = 10s;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Time this thread of the process spent runnable but waiting for a CPU (schedstat), in ns.
uint64_t runQueueWaitNs(pid_t tid) {
  std::ifstream in(fmt::format("/proc/self/task/{}/schedstat", tid));
  uint64_t on_cpu = 0, waiting = 0;
  in >> on_cpu >> waiting;
  return waiting;
}

// The kernel's memory-reclaim threads (see the top). Used by the data thread only.
class ReclaimThreads {
 public:
  ReclaimThreads() {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string pid = entry.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream comm_file(entry.path() / "comm");
      std::string comm;
      if (!std::getline(comm_file, comm)) continue;  // it ended meanwhile
      if (!comm.starts_with("kdamond") && !comm.starts_with("kswapd") &&
          !comm.starts_with("kcompactd")) {
        continue;
      }
      UniqueFd fd(::open((entry.path() / "schedstat").c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) continue;
      names_ += (names_.empty() ? "" : ", ") + comm;
      threads_.push_back({std::move(fd), entry.path() / "stat"});
    }
    advance();
  }
  // CPU time (ns) the threads used since the last call (a thread that ended adds nothing).
  uint64_t advance() {
    uint64_t total = 0;
    for (Thread& t : threads_) {
      t.moved = false;
      const uint64_t now = readFirstNumber(t.schedstat.get()).value_or(t.cpu_ns);
      if (now > t.cpu_ns) {
        total += now - t.cpu_ns;
        t.moved = true;
        t.cpu_ns = now;
      }
    }
    return total;
  }
  // Whether a thread that ran in the last advance() last ran on `cpu` (/proc/PID/stat's
  // `processor`): it held the CPU the data thread runs on, rather than the other one.
  bool movedOn(int cpu) const {
    for (const Thread& t : threads_) {
      if (t.moved && lastCpu(t.stat) == cpu) return true;
    }
    return false;
  }
  const std::string& names() const { return names_; }

 private:
  struct Thread {
    UniqueFd schedstat;
    std::filesystem::path stat;
    uint64_t cpu_ns = 0;  // schedstat's first field at the last advance()
    bool moved = false;
  };
  static std::optional<uint64_t> readFirstNumber(int fd) {
    std::array<char, 96> buf;
    const ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
    if (n <= 0) return std::nullopt;
    buf[static_cast<size_t>(n)] = '\0';
    return std::strtoull(buf.data(), nullptr, 10);
  }
  // Field 39 of /proc/PID/stat; -1 when unreadable.
  static int lastCpu(const std::filesystem::path& stat) {
    std::ifstream in(stat);
    std::string line;
    if (!std::getline(in, line)) return -1;
    const size_t paren = line.rfind(')');  // the name may hold spaces
    if (paren == std::string::npos) return -1;
    std::istringstream fields(line.substr(paren + 2));  // from field 3 on
    std::string field;
    for (int i = 3; i <= 39 && fields >> field; ++i) {
      if (i == 39) return std::atoi(field.c_str());
    }
    return -1;
  }

  std::vector<Thread> threads_;
  std::string names_;
};

// The data thread: runs `io` and ticks every kTick, recording per phase how late the ticks
// fired and how long it waited for a CPU (the share of the lateness the scheduler caused).
class DataThread {
 public:
  enum Phase { kIdle, kReload, kPhases };
  struct PhaseStats {
    Clock::duration worst{};
    Clock::duration worst_clear{};  // of the ticks not delayed by kernel reclaim (top)
    uint64_t ticks = 0;
    uint64_t late = 0;          // ticks more than 1 ms late
    uint64_t late_reclaim = 0;  // of them, the ones attributed to kernel reclaim
    uint64_t run_queue_wait_ns = 0;
    uint64_t reclaim_ns = 0;  // the reclaim threads' CPU time during the phase
    Clock::duration length{};
  };

  DataThread() : timer_(io_) {}
  ~DataThread() { stop(); }

  asio::io_context& io() { return io_; }
  // `realtime`: the thread runs SCHED_FIFO, so other processes cannot delay it and what is
  // left is what this process does to it. Fails without CAP_SYS_NICE.
  void start(bool realtime) {
    reclaim_.advance();  // what they used during the initial load is not the first tick's
    next_ = Clock::now() + kTick;
    arm();
    std::promise<std::pair<pid_t, int>> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, realtime, &started] {
      int err = 0;
      if (realtime) {
        sched_param param{};
        param.sched_priority = 1;
        err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
      }
      started.set_value({gettid(), err});
      if (err == 0) io_.run();
    });
    auto [tid, err] = ready.get();
    if (err != 0) {
      thread_.join();
      throw std::runtime_error(fmt::format("real-time data thread: {}", std::strerror(err)));
    }
    tid_ = tid;
    phase_start_wait_ = runQueueWaitNs(tid_);
    phase_start_ = Clock::now();
  }
  void setPhase(Phase p) {
    endPhase();
    phase_ = p;
  }
  void stop() {
    if (!thread_.joinable()) return;
    endPhase();
    io_.stop();
    thread_.join();
  }
  // Valid after stop().
  const PhaseStats& stats(Phase p) const { return stats_[p]; }
  // Called by config handlers that run on the data thread.
  void recordHandler(Clock::duration d) { worst_handler_ = std::max(worst_handler_, d); }
  Clock::duration worstHandler() const { return worst_handler_; }
  const std::string& reclaimThreads() const { return reclaim_.names(); }

 private:
  void endPhase() {
    PhaseStats& st = stats_[phase_.load()];
    const uint64_t wait = runQueueWaitNs(tid_);
    st.run_queue_wait_ns += wait - phase_start_wait_;
    phase_start_wait_ = wait;
    const auto now = Clock::now();
    st.length += now - phase_start_;
    phase_start_ = now;
  }
  void arm() {
    timer_.expires_at(next_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto now = Clock::now();
      const auto lateness = now - next_;
      // Kernel reclaim's (the top): those threads ran at least half as long as the tick was
      // late, one of them on this thread's CPU.
      const auto reclaimed = std::chrono::nanoseconds(reclaim_.advance());
      const bool by_reclaim = reclaimed > std::chrono::nanoseconds(0) &&
                              2 * reclaimed >= lateness && reclaim_.movedOn(sched_getcpu());
      PhaseStats& st = stats_[phase_.load()];
      st.reclaim_ns += static_cast<uint64_t>(reclaimed.count());
      st.worst = std::max(st.worst, lateness);
      if (!by_reclaim) st.worst_clear = std::max(st.worst_clear, lateness);
      ++st.ticks;
      if (lateness > 1ms) {
        ++st.late;
        if (by_reclaim) ++st.late_reclaim;
      }
      next_ = std::max(next_ + kTick, now);
      arm();
    });
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::steady_timer timer_;
  Clock::time_point next_;
  std::atomic<int> phase_{kIdle};
  PhaseStats stats_[kPhases];
  Clock::duration worst_handler_{};
  pid_t tid_ = 0;
  uint64_t phase_start_wait_ = 0;
  ReclaimThreads reclaim_;
  Clock::time_point phase_start_;
  std::thread thread_;
};

struct StallReport {
  DataThread::PhaseStats idle, reload;
  Clock::duration handler{}, applied_after{};
  std::string reclaim_threads;
};

// With the data thread ticking: 1 s idle, then adds a file to the directory and waits
// until `applied` (the new version is in use) and `released` (the old one is freed) hold.
StallReport reloadAndWait(DataThread& data, bool realtime, const test::TempDir& dir,
                          const std::function<bool()>& applied,
                          const std::function<bool()>& released) {
  StallReport report;
  data.start(realtime);
  std::this_thread::sleep_for(kIdleWindow);
  data.setPhase(DataThread::kReload);
  const auto changed = Clock::now();
  dir.write("30-extra.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra, labels: "
            "{istio.io/dataplane-mode: ambient}}\n");
  const auto deadline = changed + 600s;
  while (!applied() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  report.applied_after = Clock::now() - changed;
  while (!released() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (!applied() || !released()) throw std::runtime_error("the reload did not complete in 600 s");
  std::this_thread::sleep_for(100ms);
  data.stop();
  report.idle = data.stats(DataThread::kIdle);
  report.reload = data.stats(DataThread::kReload);
  report.handler = data.worstHandler();
  report.reclaim_threads = data.reclaimThreads();
  return report;
}

StallReport reloadInLoop(const test::TempDir& dir) {
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
      data, false, dir, [&] { return applied.load() == 2; }, [] { return true; });
}

// The prepared snapshot of the benchmark's daemon: the waypoint's index, counting its release.
struct PreparedIndex {
  PreparedIndex(std::shared_ptr<const waypoint::MeshIndex> i, std::atomic<int>& r)
      : index(std::move(i)), released(&r) {}
  PreparedIndex(const PreparedIndex&) = delete;
  PreparedIndex& operator=(const PreparedIndex&) = delete;
  ~PreparedIndex() {
    index.reset();
    ++*released;
  }
  std::shared_ptr<const waypoint::MeshIndex> index;
  std::atomic<int>* released;
};

StallReport reloadWithPipeline(const test::TempDir& dir, bool realtime) {
  DataThread data;
  std::atomic<int> applied{0}, released{0};
  std::shared_ptr<const PreparedIndex> current;
  config::ConfigPipeline<PreparedIndex>::Stages stages;
  stages.prepare =
      [&released](const config::SnapshotPtr& s) -> Result<std::shared_ptr<const PreparedIndex>> {
    auto built = waypoint::MeshIndex::build(s);
    if (!built) return built.error();
    return std::make_shared<const PreparedIndex>(*built, released);
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
      data, realtime, dir, [&] { return applied.load() == 2; },
      [&] { return released.load() == 1; });
}

enum class Variant { kInLoop, kPipeline, kPipelineRealtime };

void BM_ReloadStall(benchmark::State& state, Variant variant) {
  spdlog::set_level(spdlog::level::warn);
  const int workloads = static_cast<int>(state.range(0));
  StallReport r;
  for (auto _ : state) {
    test::TempDir dir("ambit-stall");  // the generated config directory
    for (const auto& doc : test::largeMesh(workloads)) dir.write(doc.path, doc.content);
    try {
      r = variant == Variant::kInLoop
              ? reloadInLoop(dir)
              : reloadWithPipeline(dir, variant == Variant::kPipelineRealtime);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(r.reload.worst).count());
  }
  static constexpr const char* kNames[] = {"in the data loop", "ConfigPipeline",
                                           "ConfigPipeline, real-time data thread"};
  state.counters["handler_ms"] = ms(r.handler);
  state.counters["idle_ms"] = ms(r.idle.worst);
  state.counters["late_ticks"] = static_cast<double>(r.reload.late);
  state.counters["idle_late_ticks"] = static_cast<double>(r.idle.late);
  state.counters["reclaim_late_ticks"] = static_cast<double>(r.reload.late_reclaim);
  state.counters["idle_reclaim_late_ticks"] = static_cast<double>(r.idle.late_reclaim);
  state.counters["runq_wait_ms"] = static_cast<double>(r.reload.run_queue_wait_ns) / 1e6;
  state.counters["applied_ms"] = ms(r.applied_after);
  state.counters["clear_ms"] = ms(r.reload.worst_clear);
  state.counters["clear_idle_ms"] = ms(r.idle.worst_clear);
  // The reclaim threads' CPU time, ms per second of each phase.
  const auto perSecond = [](const DataThread::PhaseStats& p) {
    const double seconds = std::chrono::duration<double>(p.length).count();
    return seconds > 0 ? static_cast<double>(p.reclaim_ns) / 1e6 / seconds : 0.0;
  };
  state.counters["reclaim_ms"] = perSecond(r.reload);
  state.counters["reclaim_idle_ms"] = perSecond(r.idle);
  std::cerr << fmt::format(
      "reload of {} pods, {}: longest data-thread stall {:.3f} ms, {} of {} ticks over 1 ms late "
      "(longest config handler on the data thread {:.3f} ms; data thread waited {:.1f} ms for a "
      "CPU; change applied after {:.0f} ms). Idle for 10 s before it: longest stall "
      "{:.3f} ms, {} of {} ticks over 1 ms late, {:.1f} ms waiting for a CPU. Kernel reclaim ({}): "
      "{} of the late ticks ({} idle); the "
      "longest stall of the other ticks {:.3f} ms (idle {:.3f} ms); their CPU time {:.1f} ms per "
      "second during the reload, {:.1f} idle\n",
      workloads, kNames[static_cast<int>(variant)], ms(r.reload.worst), r.reload.late,
      r.reload.ticks, ms(r.handler), static_cast<double>(r.reload.run_queue_wait_ns) / 1e6,
      ms(r.applied_after), ms(r.idle.worst), r.idle.late, r.idle.ticks,
      static_cast<double>(r.idle.run_queue_wait_ns) / 1e6,
      r.reclaim_threads.empty() ? "none found" : r.reclaim_threads, r.reload.late_reclaim,
      r.idle.late_reclaim, ms(r.reload.worst_clear), ms(r.idle.worst_clear), perSecond(r.reload),
      perSecond(r.idle));
}

BENCHMARK_CAPTURE(BM_ReloadStall, in_loop, Variant::kInLoop)
    ->Arg(100000)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReloadStall, pipeline, Variant::kPipeline)
    ->Arg(100000)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReloadStall, pipeline_rt, Variant::kPipelineRealtime)
    ->Arg(100000)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ambit
