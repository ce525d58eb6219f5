#pragma once
// What an authorization decision is about: the target (whose policies apply) and the
// connection/request attributes (what the rules match against).
//
// Everything here is a non-owning view: the caller keeps the referenced strings, labels,
// headers and claims alive for the duration of one evaluate() call. Building an Attributes
// allocates nothing, so the ztunnel can fill one per connection on the data thread.

#include <google/protobuf/map.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/rbac/ip_match.h"

namespace ambit::rbac {

// L4: the ztunnel (no HTTP attributes). L7: the waypoint (all attributes).
enum class Mode : uint8_t { kL4, kL7 };

using Labels = google::protobuf::Map<std::string, std::string>;

// The workload (ztunnel) or service (waypoint) being protected.
//  - Workload target: ns + labels. Policies without targetRefs apply (GLOBAL, NAMESPACE,
//    matching WORKLOAD_SELECTOR).
//  - Waypoint target: ns + service (+ gateway). Only policies whose targetRefs name this
//    "Service/<service>" / "ServiceEntry/<service>" in ns, or "Gateway/<gateway>" in ns, or
//    "GatewayClass/<gateway_class>" from the root namespace apply.
struct Target {
  std::string_view ns;
  const Labels* labels = nullptr;  // may be null: no labels
  std::string_view service;        // service name (not FQDN), waypoint targets only
  std::string_view gateway;        // waypoint's Gateway name, waypoint targets only
  std::string_view gateway_class;  // e.g. "istio-waypoint", waypoint targets only

  bool isWaypointTarget() const { return !service.empty() || !gateway.empty(); }
};

// Request headers, looked up by lower-case name. Implementations return the value with
// duplicate headers joined by "," (Istio's behaviour), or nullopt when absent.
class HeaderSource {
 public:
  virtual ~HeaderSource() = default;
  virtual std::optional<std::string_view> get(std::string_view lower_name) const = 0;
};

// A simple HeaderSource for tests and small callers: case-insensitive names, duplicates merged
// with "," on add().
class HeaderList final : public HeaderSource {
 public:
  HeaderList() = default;
  HeaderList(std::initializer_list<std::pair<std::string_view, std::string_view>> headers);
  void add(std::string_view name, std::string_view value);
  std::optional<std::string_view> get(std::string_view lower_name) const override;

 private:
  std::vector<std::pair<std::string, std::string>> headers_;  // names lower-cased
};

// JWT claims: claim name → values (a string claim has one value, a list claim several).
// A nested claim {"a": {"b": "v"}} is stored under the path joined by kClaimPathSeparator
// ("a][b"), mirroring the policy key request.auth.claims[a][b]. "aud" and "azp" feed
// request.auth.audiences and request.auth.presenter.
using Claims = std::map<std::string, std::vector<std::string>, std::less<>>;
inline constexpr std::string_view kClaimPathSeparator = "][";
std::string nestedClaimKey(std::initializer_list<std::string_view> path);

struct Attributes {
  // L4, always available.
  IpAddress source_ip;
  IpAddress destination_ip;
  uint16_t destination_port = 0;
  std::string_view source_principal;  // "spiffe://<td>/ns/<ns>/sa/<sa>", empty for plaintext
  std::string_view source_namespace;  // empty: derived from source_principal
  // L7, waypoint only; ignored in Mode::kL4.
  std::string_view method;
  std::string_view path;  // already normalised (normalizePath); "?query"/"#frag" are ignored
  std::string_view host;  // Host/:authority; port and case do not matter
  std::string_view sni;   // connection.sni
  std::string_view request_principal;  // "<iss>/<sub>" of a validated JWT, empty if none
  const HeaderSource* headers = nullptr;
  const Claims* claims = nullptr;
};

// The namespace in "spiffe://td/ns/<ns>/sa/<sa>" (also accepts the form without "spiffe://"),
// or empty when the principal has no such segment. Returns a view into `principal`.
std::string_view namespaceFromPrincipal(std::string_view principal);

}  // namespace ambit::rbac
