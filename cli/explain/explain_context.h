#pragma once
// Internal to ambit_explain: the state one explanation is worked out in, and the steps shared
// by the L4 (ztunnel) and L7 (waypoint) parts.

#include <memory>
#include <string>
#include <vector>

#include "cli/explain/explanation.h"
#include "common/rbac/rbac.h"
#include "waypoint/mesh_index.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::cli::explain {

struct Context {
  const MeshSource& source;
  const ExplainRequest& request;
  std::shared_ptr<const v1::MeshSnapshot> snapshot;
  ztunnel::ZtunnelConfig ztunnel;                    // what every ztunnel builds from it
  std::shared_ptr<const waypoint::MeshIndex> index;  // what the waypoint builds from it
  Explanation out;

  // The client.
  const v1::Workload* client = nullptr;  // null: an address outside the mesh
  std::string client_ip;
  std::string client_principal;  // empty: plaintext (not captured)
  bool captured = false;
  // The destination.
  const v1::Service* service = nullptr;    // when addressed through a Service
  const v1::Workload* workload = nullptr;  // when addressed at a pod IP
  std::string dialled_ip;                  // the VIP or pod IP the client dials
  uint16_t port = 0;                       // the port the client dials
  std::string authority;                   // Host header

  void step(std::string stage, std::string summary, std::vector<std::string> details = {},
            SourceLocation origin = {});
  SourceLocation locate(const std::string& kind, const std::string& ns,
                        const std::string& name) const {
    return source.locate(kind, ns, name);
  }
};

// Lines describing every policy and rule of an rbac trace, each with its file:line and the
// rule as written, then the decision.
std::vector<std::string> describePolicies(const Context& ctx, const rbac::Explanation& trace);

// The policy a denial or an allowance is owed to: the matching DENY or ALLOW policy, or, when
// no ALLOW policy matched, the first ALLOW policy that applied (nothing else would have let the
// request in). Empty when no policy decided.
std::string_view decidingPolicy(const rbac::Explanation& trace);

// The ztunnel's inbound decision for a connection to `port` of workload `dst`: over HBONE from
// `principal`, or plaintext when it is empty (PeerAuthentication first). Uses the ztunnel's
// own functions (policyTarget, plaintextAllowed, authorizeInbound).
struct InboundVerdict {
  bool allowed = true;
  std::string reason;  // "allowed by policy ns/x", "PeerAuthentication ns/y is STRICT", ...
  std::string policy;  // deciding "<Kind> ns/name", empty when none decided
  SourceLocation policy_at;
  std::vector<std::string> lines;  // the trace
};
InboundVerdict explainInbound(const Context& ctx, const v1::Workload& dst, uint16_t port,
                              const std::string& source_ip, const std::string& principal);

// The waypoint part: authentication, L7 authorization, routing and each destination's
// endpoints (with the destination ztunnel's verdict for the waypoint's connection).
void explainWaypoint(Context& ctx, const v1::Waypoint& waypoint);

// Each destination of `route` (null: the service itself), its endpoints and each endpoint
// ztunnel's verdict for a connection from the waypoint; then the verdict.
void explainDestinations(Context& ctx, const v1::Waypoint& waypoint, const v1::HttpRoute* route,
                         const v1::Service& service);

// Sets the verdict from ctx.out.destinations when nothing earlier decided it: the app answers
// when every endpoint that can be picked admits the connection.
void concludeFromDestinations(Context& ctx, bool via_waypoint);

}  // namespace ambit::cli::explain
