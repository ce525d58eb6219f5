#include "common/config/loop_watch.h"

namespace ambit::config {

Result<std::unique_ptr<LoopConfigWatch>> LoopConfigWatch::start(
    boost::asio::io_context& io, const std::filesystem::path& dir, ConfigWatcher::Options options,
    ConfigWatcher::SnapshotCallback on_snapshot, ConfigWatcher::ErrorCallback on_rejected) {
  std::unique_ptr<LoopConfigWatch> w(
      new LoopConfigWatch(std::move(on_snapshot), std::move(on_rejected)));
  w->source_ = std::make_unique<DirectorySource>(dir, std::move(options));
  AMBIT_TRY(w->source_->start(io, *w));
  return w;
}

void LoopConfigWatch::publish(std::shared_ptr<const v1::MeshSnapshot> snapshot) {
  if (on_snapshot_) on_snapshot_(std::move(snapshot));
}

void LoopConfigWatch::reject(ConfigErrors errors) {
  logRejected(errors);
  if (on_rejected_) on_rejected_(errors);
}

}  // namespace ambit::config
