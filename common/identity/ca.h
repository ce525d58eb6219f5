#pragma once
// The agent's embedded certificate authority (local mode): a self-signed ECDSA P-256 root kept
// in a state directory, and leaf issuance for SPIFFE workload identities.
//
// Files in stateDir: ca-key.pem (0600) and ca-cert.pem (0644), each written atomically (temp
// file + fsync + rename). The first start creates them; later starts load them. A missing half,
// corrupt PEM, key/cert mismatch or a root for another trust domain is an error naming the file:
// the CA never regenerates silently, because that would break every peer's trust.
//
// Thread-safe: state is immutable after openOrCreate(); sign() may run on any thread.

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/identity/openssl_ptr.h"
#include "common/identity/signer.h"

namespace ambit::identity {

struct EmbeddedCaOptions {
  std::filesystem::path stateDir;
  std::string trustDomain;                                   // e.g. "cluster.local"
  std::chrono::seconds maxLeafTtl = std::chrono::hours(24);  // requested TTLs are capped here
  std::chrono::seconds rootValidity = std::chrono::hours(24 * 3650);
  WallClock clock = systemWallClock();
};

class EmbeddedCa final : public CertificateSigner {
 public:
  static constexpr const char* kKeyFile = "ca-key.pem";
  static constexpr const char* kCertFile = "ca-cert.pem";

  [[nodiscard]] static Result<std::unique_ptr<EmbeddedCa>> openOrCreate(EmbeddedCaOptions options);

  // Accepts only: a PEM CSR whose signature verifies, an ECDSA P-256 key, exactly one SAN that
  // is a URI SAN holding a SPIFFE id in this CA's trust domain, and which authorize() allows.
  // Issues: random 16-byte serial, notBefore = now - 1 min, notAfter = now + min(ttl, max)
  // (and never past the root's notAfter),
  // CA:FALSE, digitalSignature+keyEncipherment, serverAuth+clientAuth, SKI/AKI, empty subject,
  // critical URI SAN. Errors carry kBadRequest / kNotAllowed / kSignerFailure.
  [[nodiscard]] Result<IssuedCertificate> sign(std::string_view csrPem, std::chrono::seconds ttl,
                                               const IdentityAuthorizer& authorize) override;

  const X509* root() const { return root_.get(); }
  const std::string& rootPem() const { return rootPem_; }
  const std::string& trustDomain() const { return options_.trustDomain; }
  // True when openOrCreate() generated a new root (first start).
  bool created() const { return created_; }

 private:
  EmbeddedCa(EmbeddedCaOptions options, ossl::EvpPkeyPtr key, ossl::X509Ptr root,
             std::string rootPem, bool created);
  Result<SpiffeId> checkCsr(X509_REQ* csr) const;
  Result<ossl::X509Ptr> issueLeaf(X509_REQ* csr, const SpiffeId& id, std::chrono::seconds ttl);

  EmbeddedCaOptions options_;
  ossl::EvpPkeyPtr key_;
  ossl::X509Ptr root_;
  std::string rootPem_;
  bool created_;
  std::mutex signMu_;  // serialises use of key_ by concurrent gRPC handlers
};

}  // namespace ambit::identity
