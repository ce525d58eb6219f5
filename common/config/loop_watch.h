#pragma once
// A ConfigWatcher driven by a Boost.Asio io_context, the way every ambit daemon runs it: the
// directory is loaded once at start, then every good change is delivered to `on_snapshot`
// and every rejected one is logged (file, line, object, reason) and passed to `on_rejected`,
// all on the io_context's thread. Destroying the watch stops delivery.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "common/config/watcher.h"
#include "common/fd_watch.h"

namespace ambit::config {

class LoopConfigWatch {
 public:
  static Result<std::unique_ptr<LoopConfigWatch>> start(
      boost::asio::io_context& io, const std::filesystem::path& dir, ConfigWatcher::Options options,
      ConfigWatcher::SnapshotCallback on_snapshot, ConfigWatcher::ErrorCallback on_rejected = {});

  const ConfigWatcher& watcher() const { return *watcher_; }

 private:
  LoopConfigWatch() = default;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::unique_ptr<FdWatch> fd_watch_;
};

}  // namespace ambit::config
