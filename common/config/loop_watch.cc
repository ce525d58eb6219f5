#include "common/config/loop_watch.h"

#include "common/log.h"

namespace ambit::config {

Result<std::unique_ptr<LoopConfigWatch>> LoopConfigWatch::start(
    boost::asio::io_context& io, const std::filesystem::path& dir, ConfigWatcher::Options options,
    ConfigWatcher::SnapshotCallback on_snapshot, ConfigWatcher::ErrorCallback on_rejected) {
  std::unique_ptr<LoopConfigWatch> w(new LoopConfigWatch());
  auto watcher = ConfigWatcher::create(
      dir, std::move(options), std::move(on_snapshot),
      [on_rejected = std::move(on_rejected)](const ConfigErrors& errors) {
        for (const auto& e : errors)
          logError("config rejected, last good config stays: {}", e.toString());
        if (on_rejected) on_rejected(errors);
      });
  if (!watcher) return watcher.error().context("config watcher");
  w->watcher_ = std::move(*watcher);
  ConfigWatcher* raw = w->watcher_.get();
  auto fd_watch = FdWatch::start(io, raw->pollFd(), [raw] {
    if (Status st = raw->handleEvents(); !st) logError("config watch: {}", st.message());
    return true;
  });
  if (!fd_watch) return fd_watch.error().context("config watcher");
  w->fd_watch_ = std::move(*fd_watch);
  return w;
}

}  // namespace ambit::config
