#pragma once
// The MUSTs of the SPIFFE specifications (SPIFFE-ID.md, X509-SVID.md) in one place. Every path
// that accepts or issues an X.509-SVID goes through these checks: both sides of every HBONE
// connection (ztunnel and waypoint, via spiffePeerVerifier() in verify.h), the certificate a
// workload receives from its CA (WorkloadCertificate::assemble), the CA's CSR checks and its
// self-check of every certificate it issues, and the CA's own signing material.
//
// Every refusal names the rule it breaks: "SPIFFE rule <name> (<spec> §<n>): <detail>", with
// <name> from SvidRule below (the table in docs/hardening.md lists them with their tests).
// Pure functions over OpenSSL objects they do not own; thread-safe.

#include <openssl/x509.h>

#include <string>
#include <string_view>

#include "common/identity/spiffe.h"
#include "common/status.h"

namespace ambit::identity {

enum class SvidRule {
  // SPIFFE-ID.md §2: the SPIFFE id itself.
  kIdScheme,              // scheme is exactly "spiffe"
  kIdTrustDomainEmpty,    // the trust domain (URI host) is not empty
  kIdUserinfo,            // no userinfo ("user@") in the authority
  kIdPort,                // no port and no ':' in the authority
  kIdTrustDomainChars,    // trust domain: lower case [a-z0-9.-_] only
  kIdTrustDomainPercent,  // trust domain: no percent-encoding
  kIdTrustDomainLength,   // trust domain at most 255 bytes (RFC 3986 host)
  kIdQuery,               // no query component
  kIdFragment,            // no fragment component
  kIdPathPercent,         // path: no percent-encoding
  kIdPathEmptySegment,    // path: no empty segment ("//")
  kIdPathDotSegment,      // path: no "." or ".." segment
  kIdPathTrailingSlash,   // path: no trailing '/'
  kIdPathChars,           // path segments: [a-zA-Z0-9.-_] only
  kIdLength,              // the whole id at most 2048 bytes
  // X509-SVID.md: the certificates.
  kOneUriSan,           // §2, §5.2: an SVID carries exactly one URI SAN (signing certs: at most)
  kUriSanCritical,      // §3.1: the SAN extension is critical when the subject is empty
  kLeafPath,            // §3.1, §5.2: a leaf's SPIFFE id has a non-root path
  kLeafNotCa,           // §4.1, §5.2: a leaf has basicConstraints cA FALSE (or no extension)
  kKeyUsagePresent,     // §4.3: keyUsage is set on every SVID
  kKeyUsageCritical,    // §4.3: keyUsage is critical
  kLeafDigitalSig,      // §4.3: a leaf sets digitalSignature
  kLeafNoKeyCertSign,   // §4.3, §5.2: a leaf does not set keyCertSign
  kLeafNoCrlSign,       // §4.3, §5.2: a leaf does not set cRLSign
  kLeafEku,             // §4.4: a leaf's extendedKeyUsage, when present, has serverAuth+clientAuth
  kSigningCa,           // §3.2, §4.1: a signing certificate has basicConstraints cA TRUE
  kSigningKeyCertSign,  // §3.2, §4.3: a signing certificate sets keyCertSign
  kSigningIdNoPath,     // §3.2: a signing certificate's SPIFFE id (if any) has no path
  kPathValidation,      // §5.1: RFC 5280 path validation (expiry, signatures, name constraints)
  // ambit's own rules on top of the specification.
  kTrustDomain,    // the peer's SPIFFE id is in the trust domain whose bundle we verify with
  kAmbitIdShape,   // spiffe://<td>/ns/<namespace>/sa/<service-account>, Kubernetes names
  kCsrOnlyUriSan,  // a CSR asks for one SAN, the SPIFFE URI, and nothing else (keep last:
                   // tests walk the enumerators up to it)
};

// "leaf-not-ca", "id-scheme", ... (stable: tests and docs name rules by it).
std::string_view ruleName(SvidRule rule);
// Where the rule comes from, e.g. "X509-SVID §4.1, §5.2".
std::string_view ruleSource(SvidRule rule);
// The error for breaking `rule`: "SPIFFE rule <name> (<source>): <detail>".
Error ruleError(SvidRule rule, std::string_view detail);

// A SPIFFE id of any path shape, syntax-checked (SPIFFE-ID.md §2). path is "" or "/a/b".
struct SpiffeUri {
  std::string trustDomain;
  std::string path;
  std::string toString() const { return "spiffe://" + trustDomain + path; }
};

// Checks every SPIFFE-ID.md §2 rule (kId*); errors name the first rule broken.
[[nodiscard]] Result<SpiffeUri> parseSpiffeUri(std::string_view uri);

// The one URI SAN of cert, checked as a SPIFFE id (kOneUriSan, kId*). Other SAN types are
// ignored (X509-SVID §2 allows them).
[[nodiscard]] Result<SpiffeUri> certificateSpiffeUri(const X509* cert);

// Every rule a leaf SVID must meet on its own (no chain): kOneUriSan, kId*, kUriSanCritical,
// kLeafPath, kLeafNotCa, kKeyUsage*, kLeafDigitalSig, kLeafNoKeyCertSign, kLeafNoCrlSign,
// kLeafEku. Returns the leaf's SPIFFE id.
[[nodiscard]] Result<SpiffeUri> checkLeafSvid(const X509* leaf);

// Every rule a signing (CA) certificate must meet: kSigningCa, kKeyUsagePresent,
// kKeyUsageCritical, kSigningKeyCertSign, and for a URI SAN if present: kOneUriSan, kId*,
// kUriSanCritical, kSigningIdNoPath. `what` names the certificate in errors ("intermediate 1").
[[nodiscard]] Status checkSigningCertificate(const X509* cert, std::string_view what);

// The peer check every TLS verify path runs once OpenSSL has validated the chain (kPathValidation
// done): checkLeafSvid on the leaf, checkSigningCertificate on every other certificate of the
// verified chain (leaf first, trust anchor last; may be null: leaf only), the ambit id shape, and
// the trust domain (empty: any).
[[nodiscard]] Result<SpiffeId> checkPeerSvid(const X509* leaf, const STACK_OF(X509) * chain,
                                             std::string_view trustDomain);

// A CSR's request, against the rules the issued leaf must meet: exactly one SAN which is a URI
// (kCsrOnlyUriSan, kOneUriSan), a SPIFFE id with a path (kId*, kLeafPath), and no requested
// extension that would break a leaf rule: basicConstraints cA TRUE (kLeafNotCa), keyUsage with
// keyCertSign or cRLSign (kLeafNoKeyCertSign, kLeafNoCrlSign), extendedKeyUsage without
// serverAuth and clientAuth (kLeafEku). Does not check the CSR's signature.
[[nodiscard]] Result<SpiffeUri> checkCsrRequest(X509_REQ* csr);

}  // namespace ambit::identity
