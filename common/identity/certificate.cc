#include "common/identity/certificate.h"

#include "common/identity/pem.h"
#include "common/identity/svid_rules.h"
#include "common/identity/x509_builder.h"

namespace ambit::identity {
namespace {

Result<std::vector<ossl::X509Ptr>> parseAll(const std::vector<std::string>& pems,
                                            std::string_view what) {
  if (pems.empty()) return makeError("no {} certificates", what);
  std::vector<ossl::X509Ptr> out;
  for (const std::string& pem : pems) {
    auto certs = parseCertificateBundlePem(pem);
    if (!certs) return certs.error().context(what);
    for (auto& c : *certs) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<WorkloadCertificate> WorkloadCertificate::assemble(ossl::EvpPkeyPtr key,
                                                          IssuedCertificate issued) {
  auto chain = parseAll(issued.chainPem, "chain");
  AMBIT_TRY(chain);
  auto roots = parseAll(issued.rootsPem, "roots");
  AMBIT_TRY(roots);
  X509* leaf = chain->front().get();
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key.get()) != 1) {
    ERR_clear_error();
    return makeError("issued certificate does not match the private key");
  }
  // The CA must never issue an SVID that peers would refuse: check ours like a peer's.
  auto uri = checkLeafSvid(leaf);
  if (!uri) return uri.error().context("issued certificate");
  for (size_t i = 1; i < chain->size(); ++i) {
    AMBIT_TRY(
        checkSigningCertificate((*chain)[i].get(), fmt::format("issued chain certificate {}", i)));
  }
  auto id = SpiffeId::parse(uri->toString());
  if (!id) return id.error().context("issued certificate");
  WorkloadCertificate wc;
  wc.id = std::move(*id);
  wc.key = std::move(key);
  wc.notBefore = x509::notBefore(leaf);
  wc.notAfter = x509::notAfter(leaf);
  wc.chain = std::move(*chain);
  wc.roots = std::move(*roots);
  wc.pem = std::move(issued);
  return wc;
}

}  // namespace ambit::identity
