#include "agent/pod_cgroup_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/log.h"

namespace ambit::agent {

Result<std::unique_ptr<PodCgroupWatch>> PodCgroupWatch::start(
    boost::asio::io_context& io, std::function<std::vector<std::string>()> parents,
    std::function<void()> on_pod_cgroup) {
  UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return errnoError("inotify_init1 (pod cgroup watch)");
  std::unique_ptr<PodCgroupWatch> w(
      new PodCgroupWatch(std::move(fd), std::move(parents), std::move(on_pod_cgroup)));
  auto watch = FdWatch::start(io, w->fd_.get(), [self = w.get()] { return self->onReadable(); });
  AMBIT_TRY(watch);
  w->watch_ = std::move(*watch);
  w->refresh();
  return w;
}

PodCgroupWatch::PodCgroupWatch(UniqueFd fd, std::function<std::vector<std::string>()> parents,
                               std::function<void()> on_pod_cgroup)
    : fd_(std::move(fd)), parents_(std::move(parents)), on_pod_cgroup_(std::move(on_pod_cgroup)) {}

void PodCgroupWatch::refresh() {
  for (const auto& dir : parents_()) {
    const bool known = std::any_of(watches_.begin(), watches_.end(),
                                   [&](const auto& entry) { return entry.second == dir; });
    if (known) continue;
    int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_ONLYDIR);
    if (wd < 0) {
      std::string why = std::strerror(errno);
      auto [it, first] = failed_.emplace(dir, why);
      if (first || it->second != why) {
        it->second = why;
        logWarn("pod cgroup watch: cannot watch {}: {} (pods there are found by polling)", dir,
                why);
      }
      continue;
    }
    failed_.erase(dir);
    watches_[wd] = dir;
    logDebug("pod cgroup watch: watching {}", dir);
  }
}

std::vector<std::string> PodCgroupWatch::watched() const {
  std::vector<std::string> dirs;
  for (const auto& [wd, dir] : watches_) dirs.push_back(dir);
  return dirs;
}

bool PodCgroupWatch::onReadable() {
  alignas(inotify_event) std::array<char, 16384> buf;
  bool pod_created = false;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_IGNORED) {  // the directory went away (watch removed by the kernel)
        watches_.erase(ev->wd);
        continue;
      }
      const std::string_view name = ev->len > 0 ? std::string_view(ev->name) : std::string_view();
      // cgroupfs "pod<uid>", systemd "kubepods-burstable-pod<uid>.slice".
      if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR) &&
          (name.starts_with("pod") || name.find("-pod") != std::string_view::npos)) {
        pod_created = true;
      }
      // A QoS parent created after start ("burstable", "kubepods-besteffort.slice").
      if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR)) refresh();
    }
  }
  if (pod_created && on_pod_cgroup_) on_pod_cgroup_();
  return true;
}

}  // namespace ambit::agent
