#pragma once
// Small steps for building X.509 certificates with OpenSSL 3 (internal to ambit_identity:
// the embedded CA uses them for its root and for leaves; tests use them for odd certificates).

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/identity/openssl_ptr.h"
#include "common/status.h"

namespace ambit::identity::x509 {

using TimePoint = std::chrono::system_clock::time_point;

// A v3 certificate with a random positive 128-bit serial, the given validity and public key.
[[nodiscard]] Result<ossl::X509Ptr> newCertificate(EVP_PKEY* publicKey, TimePoint notBefore,
                                                   TimePoint notAfter);
// A distinguished name from (field, value) pairs, e.g. {{"O", "ambit"}, {"CN", "x"}}.
[[nodiscard]] Result<ossl::X509NamePtr> makeName(
    const std::vector<std::pair<std::string, std::string>>& entries);
// Adds an extension in openssl.cnf syntax ("critical,CA:TRUE"); issuer may equal cert.
[[nodiscard]] Status addExtension(X509* cert, X509* issuer, int nid, const char* value);
// Adds a critical subjectAltName with one URI (and DNS names, for servers reached by name).
[[nodiscard]] Status addUriSan(X509* cert, const std::string& uri,
                               const std::vector<std::string>& dnsNames = {});
[[nodiscard]] Status signSha256(X509* cert, EVP_PKEY* issuerKey);

TimePoint notAfter(const X509* cert);
TimePoint notBefore(const X509* cert);

}  // namespace ambit::identity::x509
