#pragma once
// `ambitctl explain`: what the mesh would do with one request, worked out from configuration
// alone by the code the data plane runs: the ztunnel's destination resolution
// (ztunnel::MeshState) and L4 policy (ztunnel::policyTarget + rbac), the waypoint's path
// normalisation, RequestAuthentication (waypoint::RequestAuthenticator), L7 policy (rbac) and
// router (waypoint::Router, with its trace hook).
//
// The result is a chain of steps (source, capture, destination, waypoint, authentication,
// authorization, route, endpoints) each naming the object and file:line behind it, plus the
// verdict a client would see.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/analyze/mesh_source.h"
#include "common/status.h"

namespace ambit::cli {

struct ExplainRequest {
  std::string from;  // "<ns>/<pod>" or a pod IP (any other IP: a client outside the mesh)
  std::string to;    // "host[:port]" (short names resolve in the source's namespace),
                     // "<ns>/<service>[:port]", or "IP:port" / "[IPv6]:port"
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // -H 'name: value'
  std::string jwt;  // sent as "Authorization: Bearer <jwt>"
};

// One link of the chain.
struct ExplainStep {
  std::string stage;    // "source", "destination", "waypoint", "authn", "authz-l7", ...
  std::string summary;  // one line
  std::vector<std::string> details;
  SourceLocation origin;  // the configuration behind it (may be unknown)
};

// One weighted destination of the matched route (or the service itself without a route).
struct ExplainDestination {
  std::string service;                 // "<ns>/<name>"
  std::string subset;                  // empty: every endpoint
  uint32_t weight = 0;                 // 0 when the route has a single unweighted destination
  std::vector<std::string> endpoints;  // "<ns>/<pod> <ip>:<port>"
  size_t allowed = 0;                  // endpoints whose ztunnel lets the request in
  std::vector<std::string> policies;   // deciding L4 policies ("ns/name"), if any
};

struct Explanation {
  enum class Verdict { kAllow, kDeny, kPartial };
  Verdict verdict = Verdict::kAllow;
  // What the client sees: an HTTP status the mesh answers with (403, 401, 404, 503, 400), 200
  // when the request reaches the app, 0 when the connection is refused or reset.
  int status = 200;
  std::string reason;      // "denied by AuthorizationPolicy default/deny-admin rules[0]"
  std::string decided_by;  // "AuthorizationPolicy default/deny-admin" (empty: no policy)
  SourceLocation decided_at;
  std::string route;  // the matched route ("#0", "#1 (canary)"); empty without a route table
  std::vector<ExplainDestination> destinations;
  std::vector<ExplainStep> steps;
};

std::string_view verdictName(Explanation::Verdict v);  // "ALLOW", "DENY", "PARTIAL"

// Works the request through the configuration. Fails (with what to fix) when --from or --to
// names nothing in it or cannot be parsed.
Result<Explanation> explainRequest(const MeshSource& source, const ExplainRequest& request);

std::string renderExplanationText(const ExplainRequest& request, const Explanation& e);
std::string renderExplanationJson(const ExplainRequest& request, const Explanation& e);

}  // namespace ambit::cli
