#pragma once
// Where configuration comes from. A ConfigSource watches one origin — a local directory
// (DirectorySource, directory_source.h) today, a Kubernetes API watch feeding incremental
// updates next — and turns it into whole, translated, immutable v1::MeshSnapshots, or into
// rejections. It hands them to a ConfigSink. What happens to a snapshot afterwards (a daemon's
// `prepare`, delivery to the data thread) is not the source's business: see pipeline.h.
//
// Threads: the owner (the pipeline) calls start() and destroys the source on one thread, the
// config thread, which runs `config_io`; the source calls the sink only on that thread, from
// start() or from handlers it runs on `config_io`. Reading and translating happen there too,
// never on a data thread.
//
// Incremental sources: a source that receives changes one resource at a time keeps its own
// store of resources and publishes a new whole snapshot after a batch of them (debounced as it
// sees fit). A published snapshot is never modified again; consumers may keep it as long as
// they like.
//
// Lifetime: destroying the source cancels everything it has pending on `config_io` (so that
// the config thread can finish), and the sink is never called afterwards.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "ambit/v1/mesh.pb.h"
#include "common/config/config_error.h"
#include "common/status.h"

namespace ambit::config {

class ConfigSink {
 public:
  virtual ~ConfigSink() = default;
  // A new good version. A source need not publish a version equal to the previous one.
  virtual void publish(std::shared_ptr<const v1::MeshSnapshot> snapshot) = 0;
  // A new version was rejected as a whole (every problem as file:line: Kind ns/name: reason);
  // the last good version stays in force.
  virtual void reject(ConfigErrors errors) = 0;
};

class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  // Begins watching. Publishes or rejects the initial version before returning when it has one
  // (the pipeline gives that one to the daemon before start-up completes). Fails only when the
  // watch itself cannot be set up.
  virtual Status start(boost::asio::io_context& config_io, ConfigSink& sink) = 0;
  // Names the origin in messages: a directory path, an API server address.
  virtual std::string name() const = 0;
};

}  // namespace ambit::config
