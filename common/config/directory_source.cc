#include "common/config/directory_source.h"

#include "common/log.h"

namespace ambit::config {

DirectorySource::DirectorySource(std::filesystem::path dir, ConfigWatcher::Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

Status DirectorySource::start(boost::asio::io_context& config_io, ConfigSink& sink) {
  auto watcher = ConfigWatcher::create(
      dir_, options_,
      [&sink](std::shared_ptr<const v1::MeshSnapshot> s) { sink.publish(std::move(s)); },
      [&sink](const ConfigErrors& errors) { sink.reject(errors); });
  if (!watcher) return watcher.error().context("config watcher");
  watcher_ = std::move(*watcher);
  ConfigWatcher* raw = watcher_.get();
  auto fd_watch = FdWatch::start(config_io, raw->pollFd(), [raw] {
    if (Status st = raw->handleEvents(); !st) logError("config watch: {}", st.message());
    return true;
  });
  if (!fd_watch) return fd_watch.error().context("config watcher");
  fd_watch_ = std::move(*fd_watch);
  return Status::ok();
}

std::unique_ptr<ConfigSource> localConfigSource(std::filesystem::path dir,
                                                std::string trust_domain) {
  ConfigWatcher::Options options;
  options.loader.trust_domain = std::move(trust_domain);
  return std::make_unique<DirectorySource>(std::move(dir), std::move(options));
}

}  // namespace ambit::config
