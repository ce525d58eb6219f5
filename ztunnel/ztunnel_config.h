#pragma once
// The ztunnel's configuration: what one translated MeshSnapshot becomes for the data path
// (the mesh index that resolves destinations, and the compiled L4 policies).
//
// prepareConfig() is a pure function, callable on any thread: the expensive part of a config
// change (indexing, compiling policies) need not run on the data thread, which only swaps the
// finished ZtunnelConfig in (ActiveConfig::set) and re-checks open connections.
//
// ConfigProvider is how the proxies read the configuration in force; ActiveConfig is the data
// thread's holder. A ZtunnelConfig is immutable once built; holders share it by shared_ptr.

#include <atomic>
#include <memory>
#include <string>

#include "ambit/v1/mesh.pb.h"
#include "common/rbac/rbac.h"
#include "common/status.h"
#include "ztunnel/state.h"

namespace ambit::ztunnel {

struct ZtunnelConfig {
  std::shared_ptr<const MeshState> state;
  std::shared_ptr<const rbac::CompiledPolicySet> policies;
  std::string version;  // the snapshot's
};

// Indexes `snapshot` and compiles its policies. An error says what was rejected; the caller
// keeps the configuration it has.
Result<ZtunnelConfig> prepareConfig(std::shared_ptr<const v1::MeshSnapshot> snapshot);

class ConfigProvider {
 public:
  virtual ~ConfigProvider() = default;
  // The configuration in force now, or null before the first one. Hold the pointer for as long
  // as anything taken from it (workload pointers, policy names) is used.
  virtual std::shared_ptr<const ZtunnelConfig> current() const = 0;
};

// The data thread's current configuration. Thread: the data thread only, except loaded().
class ActiveConfig final : public ConfigProvider {
 public:
  std::shared_ptr<const ZtunnelConfig> current() const override { return current_; }
  void set(ZtunnelConfig config) {
    current_ = std::make_shared<const ZtunnelConfig>(std::move(config));
    loaded_ = true;
  }
  // A configuration has been set (any thread: readiness).
  bool loaded() const { return loaded_; }

 private:
  std::shared_ptr<const ZtunnelConfig> current_;
  std::atomic<bool> loaded_{false};
};

}  // namespace ambit::ztunnel
