#pragma once
// A workload's current credentials: private key, certificate chain and trust anchors.
// The certificate manager publishes these as immutable snapshots
// (std::shared_ptr<const WorkloadCertificate>); holders may use them from any thread for as
// long as they keep the pointer, e.g. to build an SSL_CTX with configureMtls().

#include <chrono>
#include <vector>

#include "common/identity/openssl_ptr.h"
#include "common/identity/signer.h"
#include "common/identity/spiffe.h"

namespace ambit::identity {

struct WorkloadCertificate {
  SpiffeId id;                       // from the leaf's URI SAN
  ossl::EvpPkeyPtr key;              // matches the leaf's public key
  std::vector<ossl::X509Ptr> chain;  // leaf first, then intermediates (never empty)
  std::vector<ossl::X509Ptr> roots;  // trust anchors for peers (never empty)
  std::chrono::system_clock::time_point notBefore;
  std::chrono::system_clock::time_point notAfter;
  IssuedCertificate pem;  // the same chain and roots as PEM, for dumps and files

  X509* leaf() const { return chain.front().get(); }

  // Parses a signer's answer for key. Errors when a PEM does not parse, the chain or roots are
  // empty, the leaf does not match key, or the leaf or a signing certificate of the chain breaks
  // an X509-SVID rule (svid_rules.h; the error names it).
  [[nodiscard]] static Result<WorkloadCertificate> assemble(ossl::EvpPkeyPtr key,
                                                            IssuedCertificate issued);
};

}  // namespace ambit::identity
