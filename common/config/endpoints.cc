#include "common/config/endpoints.h"

#include <algorithm>

namespace ambit::config {

std::optional<uint32_t> endpointPort(const v1::ServicePort* port, const v1::Workload& w,
                                     uint32_t dialled) {
  if (port == nullptr) return dialled;
  if (port->target_port() != 0) return port->target_port();
  if (port->target_port_name().empty()) return port->port();
  auto it = w.named_ports().find(port->target_port_name());
  if (it == w.named_ports().end()) return std::nullopt;
  return it->second;
}

std::vector<const v1::Workload*> preferReady(std::vector<const v1::Workload*> candidates) {
  const bool any_ready = std::any_of(candidates.begin(), candidates.end(),
                                     [](const v1::Workload* w) { return !w->not_ready(); });
  if (any_ready) {
    std::erase_if(candidates, [](const v1::Workload* w) { return w->not_ready(); });
  }
  return candidates;
}

}  // namespace ambit::config
