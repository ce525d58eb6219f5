#include "common/daemon.h"

#include <absl/synchronization/mutex.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace ambit {

namespace asio = boost::asio;

struct Daemon::SignalLoop {
  SignalLoop(std::string name, std::chrono::milliseconds drain_deadline)
      : name(std::move(name)), drain_deadline(drain_deadline) {}

  void waitForSignal();
  void onSignal(int sig);
  [[noreturn]] static void exitNow(int status);

  const std::string name;
  const std::chrono::milliseconds drain_deadline;
  asio::io_context io;
  asio::signal_set signals{io, SIGTERM, SIGINT};
  asio::steady_timer deadline{io};
  std::thread thread;
  enum class Phase { kStarting, kServing, kDraining, kStopped };
  std::mutex mutex;
  Phase phase = Phase::kStarting;
  std::function<void()> drain;  // set by serve()
};

void Daemon::SignalLoop::waitForSignal() {
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;  // the daemon is going away
    onSignal(sig);
    waitForSignal();
  });
}

void Daemon::SignalLoop::onSignal(int sig) {
  // Held through drain(): serve() takes the lock once run() has returned, so it cannot return
  // (and the main destroy the service) while drain() still uses the service.
  std::lock_guard lock(mutex);
  switch (phase) {
    case Phase::kStarting:
      logInfo("{}: signal {} while starting: exiting", name, sig);
      exitNow(0);
    case Phase::kStopped:
      logInfo("{}: signal {} after the service stopped: exiting", name, sig);
      exitNow(0);
    case Phase::kDraining:
      logWarn("{}: signal {} while draining: exiting now", name, sig);
      exitNow(1);
    case Phase::kServing:
      break;
  }
  phase = Phase::kDraining;
  logInfo("{}: signal {}: draining (deadline {}ms)", name, sig, drain_deadline.count());
  deadline.expires_after(drain_deadline + kDrainGrace);
  deadline.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard lock(mutex);
    if (phase != Phase::kDraining) return;  // serve() has returned: the main is exiting
    logError("{}: still running {}ms after the drain began: exiting", name,
             (drain_deadline + kDrainGrace).count());
    exitNow(1);
  });
  drain();  // serve() set it before the phase left kStarting and never changes it again
}

void Daemon::SignalLoop::exitNow(int status) {
  spdlog::default_logger()->flush();
  std::_Exit(status);
}

Daemon::Daemon(std::string name, std::chrono::milliseconds drain_deadline)
    : loop_(std::make_unique<SignalLoop>(std::move(name), drain_deadline)) {
  std::signal(SIGPIPE, SIG_IGN);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's lock-order graph on: every
  // lock gRPC takes updates it (2-4% of ambit-control's CPU in a profile under pod churn). It is a
  // debugging aid for Abseil's own users, not a safety check ambit relies on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  loop_->waitForSignal();
  loop_->thread = std::thread([loop = loop_.get()] { loop->io.run(); });
}

Daemon::~Daemon() {
  boost::system::error_code ignored;
  loop_->signals.cancel(ignored);
  loop_->io.stop();
  if (loop_->thread.joinable()) loop_->thread.join();
}

int Daemon::serve(std::function<void()> run, std::function<void()> drain) {
  {
    std::lock_guard lock(loop_->mutex);
    loop_->drain = std::move(drain);
    loop_->phase = SignalLoop::Phase::kServing;
  }
  run();
  std::lock_guard lock(loop_->mutex);
  loop_->phase = SignalLoop::Phase::kStopped;
  return 0;
}

}  // namespace ambit
