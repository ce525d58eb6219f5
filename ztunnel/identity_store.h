#pragma once
// The ztunnel's workload identities: the shared store in common/identity (also used by the
// waypoint for its own identity).

#include "common/identity/identity_store.h"

namespace ambit::ztunnel {

using IdentityStore = identity::IdentityStore;
using IdentityTls = identity::IdentityTls;

}  // namespace ambit::ztunnel
