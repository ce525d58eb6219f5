#pragma once
// Workload key + certificate signing request (PKCS#10) carrying the SPIFFE id as a URI SAN.

#include <string>
#include <vector>

#include "common/identity/openssl_ptr.h"
#include "common/identity/spiffe.h"
#include "common/status.h"

namespace ambit::identity {

struct WorkloadKeyAndCsr {
  ossl::EvpPkeyPtr key;  // ECDSA P-256, never leaves the process
  std::string csrPem;
};

// A new P-256 key and a CSR for id (empty subject, one critical URI SAN, SHA-256 signature).
[[nodiscard]] Result<WorkloadKeyAndCsr> createWorkloadCsr(const SpiffeId& id);

// A CSR signed by key with the given URI SANs (none: no SAN extension). Lower level than
// createWorkloadCsr; tools and tests use it to build unusual requests.
[[nodiscard]] Result<std::string> createCsrPem(EVP_PKEY* key, const std::vector<std::string>& uris);

// A GENERAL_NAMES list: one URI entry per element of uris, then one DNS entry per dnsNames
// (an IPv4/IPv6 address there becomes an IP entry).
[[nodiscard]] Result<ossl::GeneralNamesPtr> makeUriNames(
    const std::vector<std::string>& uris, const std::vector<std::string>& dnsNames = {});

}  // namespace ambit::identity
