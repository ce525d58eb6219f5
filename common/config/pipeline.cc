#include "common/config/pipeline.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>

#include "common/log.h"

namespace ambit::config {

namespace asio = boost::asio;

namespace {

// Config work yields the CPU to the data thread: when both are runnable on a busy core, the
// data thread wakes up and runs at once instead of waiting out the config thread's time slice.
// Nice +10 (CFS weight ~1/10) still never starves the config thread.
void lowerThreadPriority() {
  constexpr int kNiceIncrement = 10;
  const pid_t tid = gettid();
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (errno != 0) return;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), std::min(nice + kNiceIncrement, 19)) != 0) {
    logWarn("config thread: cannot lower its priority: {}", std::strerror(errno));
  }
}

}  // namespace

// Where prepared snapshots go when their last reference is dropped: destroyed on the config
// thread while the pipeline runs, on the dropping thread once it has shut down.
class PipelineCore::ReleaseQueue : public std::enable_shared_from_this<ReleaseQueue> {
 public:
  explicit ReleaseQueue(asio::io_context::executor_type config) : config_(std::move(config)) {}

  // `object`, owned by a pointer that comes back to this queue when its last copy is gone.
  std::shared_ptr<const void> adopt(std::shared_ptr<const void> object) {
    const void* raw = object.get();
    return std::shared_ptr<const void>(
        raw, [queue = shared_from_this(), object = std::move(object)](const void*) mutable {
          queue->release(std::move(object));
        });
  }

  // After close() the config thread is gone: objects are destroyed where they are released.
  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }

 private:
  void release(std::shared_ptr<const void> object) {
    {
      std::lock_guard lock(mu_);
      if (open_) {
        asio::post(config_, [object = std::move(object)]() mutable { object.reset(); });
        return;
      }
    }
    object.reset();
  }

  asio::io_context::executor_type config_;
  std::mutex mu_;
  bool open_ = true;  // guarded by mu_
};

// The daemon's callbacks, reached through handlers posted to the data executor; those may
// outlive the pipeline, so `live` (data thread only) stops them once it is destroyed.
struct PipelineCore::DataSide {
  std::function<void(std::shared_ptr<const void>)> apply;
  RejectCallback on_rejected;
  bool live = true;

  void deliver(Outcome outcome) {
    if (!live) return;
    if (outcome.prepared) {
      apply(std::move(outcome.prepared));
    } else if (on_rejected) {
      on_rejected(outcome.errors);
    }
  }
};

PipelineCore::PipelineCore(asio::any_io_executor data, std::unique_ptr<ConfigSource> source,
                           Stages stages)
    : data_(std::move(data)),
      prepare_(std::move(stages.prepare)),
      data_side_(std::make_shared<DataSide>(
          DataSide{std::move(stages.apply), std::move(stages.on_rejected), true})),
      releases_(std::make_shared<ReleaseQueue>(config_io_.get_executor())),
      work_(config_io_.get_executor()),
      source_(std::move(source)) {}

Result<std::unique_ptr<PipelineCore>> PipelineCore::start(
    asio::any_io_executor data, std::unique_ptr<ConfigSource> source, Stages stages,
    std::chrono::milliseconds first_version_wait) {
  std::unique_ptr<PipelineCore> core(
      new PipelineCore(std::move(data), std::move(source), std::move(stages)));
  std::future<Status> done = core->started_.get_future();
  PipelineCore* c = core.get();
  asio::post(c->config_io_, [c] { c->startOnConfigThread(); });
  c->thread_ = std::thread([c] {
    lowerThreadPriority();
    c->config_io_.run();
  });
  pthread_setname_np(c->thread_.native_handle(), "ambit-config");
  if (first_version_wait != kNoDeadline &&
      done.wait_for(first_version_wait) == std::future_status::timeout) {
    asio::post(c->config_io_, [c] { c->finishStart(Status::ok()); });  // stop waiting
  }
  if (Status st = done.get(); !st) return st.error();  // the destructor joins the thread
  for (Outcome& outcome : core->initial_) core->data_side_->deliver(std::move(outcome));
  core->initial_.clear();
  return core;
}

PipelineCore::~PipelineCore() {
  data_side_->live = false;
  stopping_ = true;
  asio::post(config_io_, [this] {
    source_.reset();
    newest_.reset();
  });
  work_.reset();
  if (thread_.joinable()) thread_.join();
  releases_->close();
}

void PipelineCore::startOnConfigThread() {
  in_source_start_ = true;
  Status st = source_->start(config_io_, *this);
  in_source_start_ = false;
  if (!st) return finishStart(std::move(st));
  prepareNewest();  // the version the source published while starting, if any
}

// Ends start(): with the first outcome, a source that cannot start, or start() giving up
// waiting. Later outcomes go to the data executor.
void PipelineCore::finishStart(Status status) {
  if (!starting_) {
    if (!status) logError("config source {}: {}", source_->name(), status.message());
    return;
  }
  starting_ = false;
  started_.set_value(std::move(status));
}

void PipelineCore::publish(SnapshotPtr snapshot) {
  newest_ = std::move(snapshot);
  if (prepare_queued_ || in_source_start_) return;  // startOnConfigThread prepares it next
  prepare_queued_ = true;
  asio::post(config_io_, [this] { prepareNewest(); });
}

void PipelineCore::reject(ConfigErrors errors) {
  logRejected(errors);
  deliver(Outcome{nullptr, std::move(errors)});
}

void PipelineCore::prepareNewest() {
  prepare_queued_ = false;
  if (!newest_ || stopping_) return;
  const SnapshotPtr snapshot = std::move(newest_);
  newest_.reset();
  Result<std::shared_ptr<const void>> prepared = makeError("not prepared");
  try {
    prepared = prepare_(snapshot);
  } catch (const std::exception& e) {
    prepared = makeError("{}", e.what());
  }
  if (prepared && !*prepared) prepared = makeError("prepare produced nothing");
  if (!prepared) {
    logError("config version {}: rejected, last good config stays: {}", snapshot->version(),
             prepared.error().message);
    ConfigError problem;
    problem.file = source_->name();
    problem.reason = fmt::format("version {}: {}", snapshot->version(), prepared.error().message);
    deliver(Outcome{nullptr, {std::move(problem)}});
    return;
  }
  deliver(Outcome{releases_->adopt(std::move(*prepared)), {}});
}

void PipelineCore::deliver(Outcome outcome) {
  if (starting_) {
    initial_.push_back(std::move(outcome));
    finishStart(Status::ok());
    return;
  }
  if (stopping_) return;
  asio::post(data_, [side = data_side_, outcome = std::move(outcome)]() mutable {
    side->deliver(std::move(outcome));
  });
}

}  // namespace ambit::config
