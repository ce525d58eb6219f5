#pragma once
// ConfigWatcher: hot reload of a local-mode configuration directory.
//
// Watches `dir` (recursively, with inotify) and re-translates the whole directory ~100ms after
// the last change (debounce). A good result becomes the current snapshot and is delivered to
// `on_snapshot`; a bad result is delivered to `on_errors` and the last good snapshot stays in
// force — nothing is ever half-applied. Unchanged content (same version hash) is not delivered.
// Each rejection logs a one-line summary; the individual errors are logged only when there is
// no `on_errors` callback (the callback owner reports them).
//
// Threading: the watcher runs no thread of its own. It exposes one pollable fd (an epoll set
// holding the inotify fd and the debounce timerfd); when it is readable the owner calls
// handleEvents() on its event-loop thread, and the callbacks run on that thread, inside
// handleEvents(). Not thread-safe: use from one thread. current() is a cheap shared_ptr copy.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "common/config/loader.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::config {

class ConfigWatcher {
 public:
  using SnapshotCallback = std::function<void(std::shared_ptr<const v1::MeshSnapshot>)>;
  using ErrorCallback = std::function<void(const ConfigErrors&)>;

  struct Options {
    LoaderOptions loader;
    std::chrono::milliseconds debounce{100};
  };

  // Sets up the watches and performs the initial load synchronously (callbacks run before
  // create returns). A bad initial directory is not a failure: current() stays null until a
  // good version appears. Fails only when inotify/epoll/timerfd cannot be set up.
  static Result<std::unique_ptr<ConfigWatcher>> create(std::filesystem::path dir, Options options,
                                                       SnapshotCallback on_snapshot,
                                                       ErrorCallback on_errors);
  ~ConfigWatcher() = default;
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Readable when handleEvents() has work. Owned by the watcher.
  int pollFd() const { return epoll_.get(); }
  // Drains pending file events; reloads when the debounce timer has expired. Never blocks.
  Status handleEvents();
  // Convenience for tools and tests: poll pollFd() and handleEvents() until `timeout` passes.
  Status runFor(std::chrono::milliseconds timeout);

  // The last good snapshot; null when no good configuration has been seen yet.
  std::shared_ptr<const v1::MeshSnapshot> current() const { return current_; }
  // Problems of the most recent load attempt (empty after a good one).
  const ConfigErrors& lastErrors() const { return last_errors_; }

 private:
  ConfigWatcher(std::filesystem::path dir, Options options, SnapshotCallback on_snapshot,
                ErrorCallback on_errors);
  Status setUp();
  void addWatches();
  Status drainInotify();
  Status armTimer();
  void reload();

  std::filesystem::path dir_;
  Options options_;
  SnapshotCallback on_snapshot_;
  ErrorCallback on_errors_;
  UniqueFd inotify_;
  UniqueFd timer_;
  UniqueFd epoll_;
  std::shared_ptr<const v1::MeshSnapshot> current_;
  ConfigErrors last_errors_;
  std::string last_version_;
};

}  // namespace ambit::config
