#pragma once
// SPIFFE workload identities in ambit's one accepted shape:
//   spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
// Parsing is strict: exactly these four path segments, a lower-case DNS-like trust domain,
// non-empty names made of Kubernetes name characters. Pure value type, thread-compatible.

#include <openssl/x509.h>

#include <compare>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ambit::identity {

struct SpiffeId {
  std::string trustDomain;     // e.g. "cluster.local"
  std::string ns;              // Kubernetes namespace
  std::string serviceAccount;  // Kubernetes service account

  // Validates the parts and builds the id; errors name the offending part.
  [[nodiscard]] static Result<SpiffeId> make(std::string_view trustDomain, std::string_view ns,
                                             std::string_view serviceAccount);
  // Parses "spiffe://td/ns/<ns>/sa/<sa>": first every SPIFFE-ID.md rule (svid_rules.h), then
  // ambit's shape (rule ambit-id-shape); errors name the rule broken.
  [[nodiscard]] static Result<SpiffeId> parse(std::string_view uri);

  std::string toString() const;  // the URI form
  auto operator<=>(const SpiffeId&) const = default;
};

// Trust domain rules: 1..255 chars of [a-z0-9.-_], labels non-empty, no leading/trailing dot.
[[nodiscard]] Status validateTrustDomain(std::string_view trustDomain);

// The single URI SAN of a certificate, parsed as a SPIFFE id. Errors when the certificate has
// no URI SAN, several, or one that is not a valid SPIFFE id. Non-URI SANs are ignored. Only
// reads the id: accepting a certificate takes checkLeafSvid / checkPeerSvid (svid_rules.h).
[[nodiscard]] Result<SpiffeId> spiffeIdFromCertificate(const X509* cert);

// Error unless id belongs to trustDomain (rule trust-domain).
[[nodiscard]] Status checkTrustDomain(const SpiffeId& id, std::string_view trustDomain);

}  // namespace ambit::identity
