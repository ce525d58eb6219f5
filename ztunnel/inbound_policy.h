#pragma once
// L4 policy for connections into a pod (AuthorizationPolicy, PeerAuthentication), evaluated
// against one ZtunnelConfig: at connect time by InboundProxy, and again for open connections
// by ConnectionManager::recheck() when the configuration changes. Pure functions.
//
// Without a configuration (null) nothing is denied, as before the first policy set arrives.

#include <cstdint>

#include "common/rbac/rbac.h"
#include "ztunnel/pod.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel {

// The policy target of a pod: its namespace and (from the config) its labels. Points into
// `pod` and `config`.
rbac::Target policyTarget(const Pod& pod, const ZtunnelConfig* config);

// AuthorizationPolicy (L4) for a connection to `pod`. The decision's policy names point into
// `config`.
rbac::Decision authorizeInbound(const Pod& pod, const rbac::Attributes& attrs,
                                const ZtunnelConfig* config);

// PeerAuthentication: whether plaintext (not HBONE) may reach `port` of `pod`.
bool plaintextAllowed(const Pod& pod, uint16_t port, const ZtunnelConfig* config);

}  // namespace ambit::ztunnel
