#pragma once
// ConfigPipeline: configuration changes become prepared, immutable snapshots that a daemon's
// data thread only has to swap in. The stages:
//
//   source   config thread   reads and translates: a whole v1::MeshSnapshot, or errors
//   prepare  config thread   daemon-specific: indexes, compiled policies, enrollment plans
//   apply    data thread     takes the prepared snapshot (a pointer swap)
//   release  config thread   the snapshot that was replaced is destroyed
//
// so that a change to a 100k-pod mesh costs the data thread microseconds rather than the
// seconds of reading, translating and preparing it, and the milliseconds of freeing it.
//
// Threads. The pipeline owns one thread, the config thread, with its own io_context. The
// source and prepare() run there, one version at a time; versions published while one is being
// prepared are coalesced (only the newest is prepared next). apply() and on_rejected() run on
// the data executor given to start(), in order, posted; only those of the initial version run
// inside start(). The config thread runs at nice +10: on a busy core the data thread preempts
// it rather than waiting out its time slice.
//
// Errors. A rejected version (the source's "file:line: Kind ns/name: reason" problems, or the
// error prepare() returns or throws) is logged and passed to on_rejected(); apply() is not called
// and the last good snapshot stays in force.
//
// Ownership and lifetime. apply() receives a shared_ptr<const Prepared>; the daemon keeps it as
// long as it likes and may hand copies to requests. Its deleter sends the object back to the
// config thread: whichever thread drops the last reference, the destructor runs there (once the
// pipeline is gone, on the thread that drops it). Destroy the pipeline on the data thread, or
// when no thread runs the data executor: it stops the source, waits for the read or prepare()
// in progress (whose result is dropped) and joins the config thread; from then on apply() and
// on_rejected() are never called.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "common/config/source.h"

namespace ambit::config {

using SnapshotPtr = std::shared_ptr<const v1::MeshSnapshot>;
using RejectCallback = std::function<void(const ConfigErrors&)>;

// start() waits for the source's first version without a deadline.
inline constexpr std::chrono::milliseconds kNoDeadline = std::chrono::milliseconds::max();

// A daemon's part of the pipeline.
template <typename Prepared>
struct PipelineStages {
  // Config thread. Derives everything the data thread needs from a snapshot; must not touch
  // state the data thread uses. An error rejects the version (the last good stays).
  std::function<Result<std::shared_ptr<const Prepared>>(const SnapshotPtr&)> prepare;
  // Data thread. Takes a newly prepared snapshot; should be no more than a swap.
  std::function<void(std::shared_ptr<const Prepared>)> apply;
  // Data thread, optional: a version was rejected (already logged).
  RejectCallback on_rejected;
};

// The untyped machinery behind ConfigPipeline<Prepared> (prepared snapshots as
// shared_ptr<const void>); use ConfigPipeline.
class PipelineCore final : private ConfigSink {
 public:
  using Stages = PipelineStages<void>;

  static Result<std::unique_ptr<PipelineCore>> start(boost::asio::any_io_executor data,
                                                     std::unique_ptr<ConfigSource> source,
                                                     Stages stages,
                                                     std::chrono::milliseconds first_version_wait);
  ~PipelineCore() override;
  PipelineCore(const PipelineCore&) = delete;
  PipelineCore& operator=(const PipelineCore&) = delete;

 private:
  class ReleaseQueue;
  struct DataSide;
  // What one version came to: a prepared snapshot, or the problems that rejected it.
  struct Outcome {
    std::shared_ptr<const void> prepared;
    ConfigErrors errors;
  };

  PipelineCore(boost::asio::any_io_executor data, std::unique_ptr<ConfigSource> source,
               Stages stages);
  void startOnConfigThread();
  void finishStart(Status status);
  void publish(SnapshotPtr snapshot) override;
  void reject(ConfigErrors errors) override;
  void prepareNewest();
  void deliver(Outcome outcome);

  boost::asio::any_io_executor data_;
  boost::asio::io_context config_io_{1};  // declared first: outlives every member below
  std::function<Result<std::shared_ptr<const void>>(const SnapshotPtr&)> prepare_;  // config thread
  std::shared_ptr<DataSide> data_side_;     // apply / on_rejected; used on the data thread
  std::shared_ptr<ReleaseQueue> releases_;  // shared with the deleters of prepared snapshots
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<ConfigSource> source_;  // config thread
  SnapshotPtr newest_;                    // config thread: published, not yet prepared
  bool prepare_queued_ = false;           // config thread
  bool in_source_start_ = false;          // config thread: inside source_->start()
  bool starting_ = true;                  // config thread: start() waits for the first outcome
  std::vector<Outcome> initial_;          // the first outcome, handed to start() by started_
  std::promise<Status> started_;          // set once, on the config thread
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

template <typename Prepared>
class ConfigPipeline {
 public:
  using Stages = PipelineStages<Prepared>;

  // Call on the data thread, or before any thread runs `data`. Starts the config thread and
  // `source` and waits for the source's first version (a directory source has it at once, a
  // remote one after its first sync), at most `first_version_wait`: it is prepared, then
  // applied (or reported rejected) on the calling thread before start() returns. A first
  // version that comes later is posted like any other. Fails when the source cannot start.
  static Result<std::unique_ptr<ConfigPipeline>> start(
      boost::asio::any_io_executor data, std::unique_ptr<ConfigSource> source, Stages stages,
      std::chrono::milliseconds first_version_wait = kNoDeadline) {
    PipelineCore::Stages erased;
    erased.prepare = [prepare = std::move(stages.prepare)](
                         const SnapshotPtr& s) -> Result<std::shared_ptr<const void>> {
      auto prepared = prepare(s);
      if (!prepared) return prepared.error();
      return std::shared_ptr<const void>(std::move(*prepared));
    };
    erased.apply = [apply = std::move(stages.apply)](std::shared_ptr<const void> p) {
      apply(std::static_pointer_cast<const Prepared>(std::move(p)));
    };
    erased.on_rejected = std::move(stages.on_rejected);
    auto core = PipelineCore::start(std::move(data), std::move(source), std::move(erased),
                                    first_version_wait);
    if (!core) return core.error();
    return std::unique_ptr<ConfigPipeline>(new ConfigPipeline(std::move(*core)));
  }

 private:
  explicit ConfigPipeline(std::unique_ptr<PipelineCore> core) : core_(std::move(core)) {}
  std::unique_ptr<PipelineCore> core_;
};

}  // namespace ambit::config
