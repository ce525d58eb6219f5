#pragma once
// Whether a node agent's SIGTERM is the uninstall. On an ordinary stop (restart, upgrade, node
// drain) the agent keeps its pinned capture so that enrolled pods stay captured until the next
// agent adopts it; when its DaemonSet is gone or being deleted (`helm uninstall`), nothing will
// adopt it and the agent removes it, so that the node is clean and pods talk directly again.

#include <string>

#include "common/status.h"

namespace ambit::agent {

// GETs the DaemonSet `ns_name` ("NAMESPACE/NAME") with the agent's API credentials (kubeconfig,
// or in-cluster when empty): true when the API server answers 404, or 401/403 (the uninstall
// removed the agent's ServiceAccount and RBAC too), or the object has a deletionTimestamp;
// false when it exists; an error when that cannot be told (API server unreachable, ...).
Result<bool> daemonSetGone(const std::string& kubeconfig, const std::string& ns_name);

}  // namespace ambit::agent
