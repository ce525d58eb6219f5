#pragma once
// LoopConfigWatch: a DirectorySource run on a daemon's own io_context. The directory is loaded
// once at start, then every good change is delivered to `on_snapshot` and every rejected one is
// logged (file, line, object, reason) and passed to `on_rejected`, all on the io_context's
// thread. Destroying the watch stops delivery.
//
// Reading, translating and whatever `on_snapshot` does all run on that thread: a large mesh
// stalls it for seconds. Daemons with a data thread use ConfigPipeline (pipeline.h) instead;
// this stays for callers not moved yet.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "common/config/directory_source.h"

namespace ambit::config {

class LoopConfigWatch final : private ConfigSink {
 public:
  static Result<std::unique_ptr<LoopConfigWatch>> start(
      boost::asio::io_context& io, const std::filesystem::path& dir, ConfigWatcher::Options options,
      ConfigWatcher::SnapshotCallback on_snapshot, ConfigWatcher::ErrorCallback on_rejected = {});

 private:
  LoopConfigWatch(ConfigWatcher::SnapshotCallback on_snapshot,
                  ConfigWatcher::ErrorCallback on_rejected)
      : on_snapshot_(std::move(on_snapshot)), on_rejected_(std::move(on_rejected)) {}
  void publish(std::shared_ptr<const v1::MeshSnapshot> snapshot) override;
  void reject(ConfigErrors errors) override;

  ConfigWatcher::SnapshotCallback on_snapshot_;
  ConfigWatcher::ErrorCallback on_rejected_;
  std::unique_ptr<DirectorySource> source_;
};

}  // namespace ambit::config
