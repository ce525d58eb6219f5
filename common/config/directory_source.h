#pragma once
// DirectorySource: the local-mode ConfigSource. A ConfigWatcher (inotify, debounce, whole
// directory re-translated, last good kept, unchanged content not re-published) driven by the
// io_context it is started on: every good version is published to the sink, every rejected one
// is rejected with all its problems. See source.h for threads and lifetime.

#include <filesystem>
#include <memory>

#include "common/config/source.h"
#include "common/config/watcher.h"
#include "common/fd_watch.h"

namespace ambit::config {

class DirectorySource final : public ConfigSource {
 public:
  DirectorySource(std::filesystem::path dir, ConfigWatcher::Options options);

  // Loads the directory once (publish or reject) before returning; fails when `dir` is not a
  // directory or inotify cannot be set up.
  Status start(boost::asio::io_context& config_io, ConfigSink& sink) override;
  std::string name() const override { return dir_.string(); }

 private:
  std::filesystem::path dir_;
  ConfigWatcher::Options options_;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::unique_ptr<FdWatch> fd_watch_;  // destroyed first: stops calls into watcher_
};

// The source of a local-mode daemon: `dir`, translated for `trust_domain`, default debounce.
std::unique_ptr<ConfigSource> localConfigSource(std::filesystem::path dir,
                                                std::string trust_domain);

}  // namespace ambit::config
