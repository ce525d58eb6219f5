#pragma once
// The certificate authority for SPIFFE workload identities. Local mode (the agent): a
// self-signed ECDSA P-256 root kept in a state directory (openOrCreate). Kubernetes mode
// (ambit-control): key material held in a Secret (fromMaterial), either a root ambit generated
// (generateMaterial) or a user's plug-in CA shaped like Istio's `cacerts` — then the signing
// certificate may be an intermediate, and issued chains carry the intermediates.
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
#include <vector>

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

// CA key material as PEM, in the shape of Istio's plug-in `cacerts` Secret.
struct CaMaterial {
  std::string keyPem;    // ca-key.pem: the signing key
  std::string certPem;   // ca-cert.pem: the signing certificate (a root or an intermediate)
  std::string chainPem;  // cert-chain.pem: from the signing cert towards the root; may be empty
  std::string rootPem;   // root-cert.pem: the trust anchor(s) workloads verify with
};

struct ServingCertificate {
  IssuedCertificate issued;  // chain (leaf first) and roots
  std::string keyPem;
};

class EmbeddedCa final : public CertificateSigner {
 public:
  static constexpr const char* kKeyFile = "ca-key.pem";
  static constexpr const char* kCertFile = "ca-cert.pem";

  [[nodiscard]] static Result<std::unique_ptr<EmbeddedCa>> openOrCreate(EmbeddedCaOptions options);
  // A new self-signed root for options.trustDomain (certPem == rootPem, chainPem empty).
  [[nodiscard]] static Result<CaMaterial> generateMaterial(const EmbeddedCaOptions& options);
  // A CA over existing material. Checks: the key parses and matches ca-cert, ca-cert is a CA
  // allowed to sign certificates, every certificate of ca-cert, cert-chain and root-cert meets
  // the X509-SVID signing rules (checkSigningCertificate), and ca-cert verifies up to root-cert
  // through cert-chain. Errors name
  // `origin` (e.g. "Secret ambit-system/cacerts") and the key at fault. stateDir is unused.
  [[nodiscard]] static Result<std::unique_ptr<EmbeddedCa>> fromMaterial(const CaMaterial& material,
                                                                        EmbeddedCaOptions options,
                                                                        std::string_view origin);

  // sign() (CertificateSigner) accepts only: a PEM CSR whose signature verifies, an ECDSA
  // P-256 key, a request meeting checkCsrRequest() (svid_rules.h: exactly one SAN, a SPIFFE URI
  // with a path, nothing that would make a leaf a CA), an id in this CA's trust domain, and
  // which authorize() allows.
  // Issues: random 16-byte serial, notBefore = now - 1 min, notAfter = now + min(ttl, max)
  // (and never past the root's notAfter),
  // CA:FALSE, digitalSignature+keyEncipherment, serverAuth+clientAuth, SKI/AKI, empty subject,
  // critical URI SAN; the result is checked against every leaf rule (checkLeafSvid) before it
  // leaves. Errors carry kBadRequest / kNotAllowed / kSignerFailure and name the rule broken.
  // It signs here and at once, so the requester's deadline does not matter to it (signBefore).

  // A server certificate for this CA's own services (ambit-control's gRPC port): a new P-256
  // key, the SPIFFE id `id` and DNS SANs `dnsNames`, valid for `ttl` (capped like sign()).
  [[nodiscard]] Result<ServingCertificate> issueServing(const SpiffeId& id,
                                                        const std::vector<std::string>& dnsNames,
                                                        std::chrono::seconds ttl);

  // The signing certificate (the root itself unless the CA is an intermediate).
  const X509* root() const { return root_.get(); }
  // The trust anchors, PEM (one or more certificates).
  const std::string& rootPem() const { return rootPem_; }
  const std::string& trustDomain() const { return options_.trustDomain; }
  // True when openOrCreate() generated a new root (first start).
  bool created() const { return created_; }

 private:
  EmbeddedCa(EmbeddedCaOptions options, ossl::EvpPkeyPtr key, ossl::X509Ptr root,
             std::string rootPem, bool created, std::vector<std::string> intermediatesPem = {});
  Result<IssuedCertificate> signBefore(std::string_view csrPem, std::chrono::seconds ttl,
                                       const IdentityAuthorizer& authorize,
                                       Deadline deadline) override;
  Result<SpiffeId> checkCsr(X509_REQ* csr) const;
  Result<ossl::X509Ptr> issueLeaf(EVP_PKEY* publicKey, const SpiffeId& id, std::chrono::seconds ttl,
                                  const std::vector<std::string>& dnsNames = {});
  IssuedCertificate chainFor(std::string leafPem) const;

  EmbeddedCaOptions options_;
  ossl::EvpPkeyPtr key_;
  ossl::X509Ptr root_;
  std::string rootPem_;
  bool created_;
  std::vector<std::string> intermediatesPem_;  // appended to every issued chain, leaf side first
  std::mutex signMu_;                          // serialises use of key_ by concurrent gRPC handlers
};

}  // namespace ambit::identity
