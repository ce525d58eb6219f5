// EmbeddedCa signing: CSR checks and leaf issuance.

#include "common/identity/ca.h"

#include "common/identity/pem.h"
#include "common/identity/svid_rules.h"
#include "common/identity/x509_builder.h"
#include "common/log.h"

namespace ambit::identity {
namespace {

Error badRequest(const Error& e) { return Error{kBadRequest, "CSR rejected: " + e.message}; }

}  // namespace

Result<SpiffeId> EmbeddedCa::checkCsr(X509_REQ* csr) const {
  EVP_PKEY* pub = X509_REQ_get0_pubkey(csr);
  AMBIT_TRY(requireP256(pub, "CSR public key"));
  if (X509_REQ_verify(csr, pub) != 1) {
    ERR_clear_error();
    return makeError("CSR signature does not verify with its public key");
  }
  auto uri = checkCsrRequest(csr);
  AMBIT_TRY(uri);
  auto id = SpiffeId::parse(uri->toString());
  AMBIT_TRY(id);
  AMBIT_TRY(checkTrustDomain(*id, options_.trustDomain));
  return id;
}

Result<ossl::X509Ptr> EmbeddedCa::issueLeaf(EVP_PKEY* publicKey, const SpiffeId& id,
                                            std::chrono::seconds ttl,
                                            const std::vector<std::string>& dnsNames) {
  auto now = options_.clock();
  auto notAfter = std::min(now + ttl, x509::notAfter(root_.get()));  // never outlive the root
  auto cert = x509::newCertificate(publicKey, now - std::chrono::minutes(1), notAfter);
  AMBIT_TRY(cert);
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(root_.get())) != 1) {
    return ossl::opensslError("set issuer name");
  }
  AMBIT_TRY(x509::addExtension(c, root_.get(), NID_basic_constraints, "critical,CA:FALSE"));
  AMBIT_TRY(x509::addExtension(c, root_.get(), NID_key_usage,
                               "critical,digitalSignature,keyEncipherment"));
  AMBIT_TRY(x509::addExtension(c, root_.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  AMBIT_TRY(x509::addExtension(c, root_.get(), NID_subject_key_identifier, "hash"));
  AMBIT_TRY(x509::addExtension(c, root_.get(), NID_authority_key_identifier, "keyid:always"));
  AMBIT_TRY(x509::addUriSan(c, id.toString(), dnsNames));
  {
    std::lock_guard lock(signMu_);
    AMBIT_TRY(x509::signSha256(c, key_.get()));
  }
  // Never hand out a certificate that breaks an X509-SVID rule (peers would refuse it anyway).
  if (auto ok = checkLeafSvid(c); !ok) return ok.error().context("CA self-check of the leaf");
  return cert;
}

Result<IssuedCertificate> EmbeddedCa::signBefore(std::string_view csrPem, std::chrono::seconds ttl,
                                                 const IdentityAuthorizer& authorize,
                                                 Deadline /*deadline*/) {
  auto csr = parseCsrPem(csrPem);
  if (!csr) return badRequest(csr.error());
  auto id = checkCsr(csr->get());
  if (!id) return badRequest(id.error());
  if (authorize) {
    if (auto allowed = authorize(*id); !allowed) {
      return Error{kNotAllowed,
                   fmt::format("identity {} not allowed: {}", id->toString(), allowed.message())};
    }
  }
  if (ttl <= std::chrono::seconds::zero() || ttl > options_.maxLeafTtl) ttl = options_.maxLeafTtl;
  if (x509::notAfter(root_.get()) <= options_.clock()) {
    return Error{kSignerFailure, "CA root has expired; rotate the CA state directory"};
  }
  auto leaf = issueLeaf(X509_REQ_get0_pubkey(csr->get()), *id, ttl);
  if (!leaf) return Error{kSignerFailure, leaf.error().message};
  auto pem = certificateToPem(leaf->get());
  if (!pem) return Error{kSignerFailure, pem.error().message};
  logDebug("issued certificate for {} valid {}s", id->toString(), ttl.count());
  return chainFor(std::move(*pem));
}

IssuedCertificate EmbeddedCa::chainFor(std::string leafPem) const {
  IssuedCertificate issued{{std::move(leafPem)}, {rootPem_}};
  issued.chainPem.insert(issued.chainPem.end(), intermediatesPem_.begin(), intermediatesPem_.end());
  return issued;
}

Result<ServingCertificate> EmbeddedCa::issueServing(const SpiffeId& id,
                                                    const std::vector<std::string>& dnsNames,
                                                    std::chrono::seconds ttl) {
  AMBIT_TRY(checkTrustDomain(id, options_.trustDomain));
  if (ttl <= std::chrono::seconds::zero() || ttl > options_.maxLeafTtl) ttl = options_.maxLeafTtl;
  auto key = generateP256Key();
  AMBIT_TRY(key);
  auto leaf = issueLeaf(key->get(), id, ttl, dnsNames);
  AMBIT_TRY(leaf);
  auto pem = certificateToPem(leaf->get());
  AMBIT_TRY(pem);
  auto keyPem = privateKeyToPem(key->get());
  AMBIT_TRY(keyPem);
  return ServingCertificate{chainFor(std::move(*pem)), std::move(*keyPem)};
}

}  // namespace ambit::identity
