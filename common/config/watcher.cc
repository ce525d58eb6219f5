#include "common/config/watcher.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>

#include <cerrno>

#include "common/log.h"

namespace ambit::config {
namespace {

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

Status addToEpoll(int epoll, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) return errnoError("epoll_ctl add");
  return Status::ok();
}

}  // namespace

ConfigWatcher::ConfigWatcher(std::filesystem::path dir, Options options,
                             SnapshotCallback on_snapshot, ErrorCallback on_errors)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      on_snapshot_(std::move(on_snapshot)),
      on_errors_(std::move(on_errors)) {}

Result<std::unique_ptr<ConfigWatcher>> ConfigWatcher::create(std::filesystem::path dir,
                                                             Options options,
                                                             SnapshotCallback on_snapshot,
                                                             ErrorCallback on_errors) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return makeError("watch config directory {}: not a directory", dir.string());
  }
  std::unique_ptr<ConfigWatcher> w(new ConfigWatcher(std::move(dir), std::move(options),
                                                     std::move(on_snapshot), std::move(on_errors)));
  AMBIT_TRY(w->setUp());
  w->reload();
  return w;
}

Status ConfigWatcher::setUp() {
  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) return errnoError("inotify_init1");
  timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_) return errnoError("timerfd_create");
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return errnoError("epoll_create1");
  AMBIT_TRY(addToEpoll(epoll_.get(), inotify_.get()));
  AMBIT_TRY(addToEpoll(epoll_.get(), timer_.get()));
  addWatches();
  return Status::ok();
}

// Adding a watch twice returns the same descriptor, so a full re-scan is idempotent and picks
// up directories created since the last scan.
void ConfigWatcher::addWatches() {
  auto watch = [this](const std::filesystem::path& dir) {
    const int wd = inotify_add_watch(inotify_.get(), dir.c_str(), kWatchMask);
    if (wd >= 0) watched_dirs_[wd] = dir;
  };
  std::error_code ec;
  watch(dir_);
  auto it = std::filesystem::recursive_directory_iterator(
      dir_, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) watch(it->path());
  }
}

void ConfigWatcher::noteEvent(const inotify_event& event) {
  if (event.mask & IN_Q_OVERFLOW) {  // events were lost: who is writing is unknown
    writing_.clear();
    return;
  }
  if (event.mask & IN_IGNORED) watched_dirs_.erase(event.wd);
  if (event.len == 0 || (event.mask & IN_ISDIR)) return;
  const auto dir = watched_dirs_.find(event.wd);
  if (dir == watched_dirs_.end()) return;
  std::filesystem::path file = dir->second / event.name;
  if (!isConfigFile(file.lexically_relative(dir_))) return;
  if (event.mask & (IN_CREATE | IN_MODIFY)) {
    writing_.try_emplace(std::move(file), std::chrono::steady_clock::now());
  } else if (event.mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)) {
    writing_.erase(file);
  }
}

Status ConfigWatcher::drainInotify() {
  alignas(inotify_event) char buf[16384];
  bool changed = false;
  while (true) {
    const ssize_t n = ::read(inotify_.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return errnoError("read inotify");
    if (n == 0) break;
    changed = true;
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
      noteEvent(*event);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  if (!changed) return Status::ok();
  addWatches();
  return armTimer();
}

Status ConfigWatcher::armTimer() {
  itimerspec spec{};
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.debounce).count();
  spec.it_value.tv_sec = ns / 1000000000;
  spec.it_value.tv_nsec = ns % 1000000000;
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  if (timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) return errnoError("timerfd_settime");
  return Status::ok();
}

Status ConfigWatcher::handleEvents() {
  AMBIT_TRY(drainInotify());
  uint64_t expirations = 0;
  const ssize_t n = ::read(timer_.get(), &expirations, sizeof(expirations));
  if (n < 0 && errno != EAGAIN && errno != EINTR) return errnoError("read timerfd");
  if (n == sizeof(expirations) && expirations > 0) return reloadOnceWritten();
  return Status::ok();
}

Status ConfigWatcher::reloadOnceWritten() {
  if (!writing_.empty()) {
    auto oldest = writing_.begin();
    for (auto it = writing_.begin(); it != writing_.end(); ++it) {
      if (it->second < oldest->second) oldest = it;
    }
    const auto waited = std::chrono::steady_clock::now() - oldest->second;
    if (waited < options_.write_grace) return armTimer();
    logWarn("config {}: {} still open for writing after {} ms; loading it as it is", dir_.string(),
            oldest->first.string(),
            std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
    writing_.clear();
  }
  reload();
  return Status::ok();
}

Status ConfigWatcher::runFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::ok();
    pollfd pfd{epoll_.get(), POLLIN, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return errnoError("poll config watcher");
    if (rc > 0) AMBIT_TRY(handleEvents());
  }
}

void ConfigWatcher::reload() {
  LoadResult result = loadConfigDir(dir_, options_.loader);
  if (!result.ok()) {
    last_errors_ = std::move(result.errors);
    logWarn("config {}: {} problem(s), keeping last good version {}", dir_.string(),
            last_errors_.size(), current_ ? current_->version() : "(none)");
    if (on_errors_) {
      on_errors_(last_errors_);
    } else {
      for (const auto& e : last_errors_) logWarn("{}", e.toString());
    }
    return;
  }
  last_errors_.clear();
  if (result.snapshot.version() == last_version_) return;
  last_version_ = result.snapshot.version();
  current_ = std::make_shared<const v1::MeshSnapshot>(std::move(result.snapshot));
  logInfo("config {}: applied version {}", dir_.string(), last_version_);
  if (on_snapshot_) on_snapshot_(current_);
}

}  // namespace ambit::config
