#pragma once
// ConfigWatcher: hot reload of a local-mode configuration directory.
//
// Watches `dir` (recursively, with inotify) and re-translates the whole directory ~100ms after
// the last change (debounce). A config file (*.yaml, *.yml) that was modified and is still
// open for writing (no IN_CLOSE_WRITE yet) holds the reload back until its writer closes it, up
// to write_grace: a writer that pauses mid-file is never read half-written. (A writer that dies
// mid-file closes it too; what it left is loaded like any edit, and rejected if invalid.) A good
// result becomes the current snapshot and is delivered to `on_snapshot`; a bad result is delivered
// to `on_errors` and the last good snapshot stays in force — nothing is ever half-applied.
// Unchanged content (same version hash) is not delivered. Each rejection logs a one-line summary;
// the individual errors are logged only when there is no `on_errors` callback (the callback owner
// reports them).
//
// Threading: the watcher runs no thread of its own. It exposes one pollable fd (an epoll set
// holding the inotify fd and the debounce timerfd); when it is readable the owner calls
// handleEvents() on its event-loop thread, and the callbacks run on that thread, inside
// handleEvents(). Not thread-safe: use from one thread. current() is a cheap shared_ptr copy.

#include <sys/inotify.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

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
    // How long a reload waits for config files still open for writing; after that they are
    // loaded as they are (a writer may keep its file open for good), with a warning.
    std::chrono::milliseconds write_grace{std::chrono::seconds(5)};
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
  void noteEvent(const inotify_event& event);
  Status armTimer();
  // The debounce timer expired: reloads, or re-arms while a writer is still within its grace.
  Status reloadOnceWritten();
  void reload();

  std::filesystem::path dir_;
  Options options_;
  SnapshotCallback on_snapshot_;
  ErrorCallback on_errors_;
  UniqueFd inotify_;
  UniqueFd timer_;
  UniqueFd epoll_;
  std::unordered_map<int, std::filesystem::path> watched_dirs_;  // inotify watch -> directory
  // Config files modified and not yet closed by their writer, with when that was first seen.
  std::map<std::filesystem::path, std::chrono::steady_clock::time_point> writing_;
  std::shared_ptr<const v1::MeshSnapshot> current_;
  ConfigErrors last_errors_;
  std::string last_version_;
};

}  // namespace ambit::config
