// EmbeddedCa over PEM material held outside a state directory (ambit-control's CA Secret, or a
// user's plug-in CA): parse, check that it can sign and that it chains to its roots.

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "common/identity/ca.h"
#include "common/identity/pem.h"
#include "common/identity/svid_rules.h"
#include "common/identity/x509_builder.h"
#include "common/log.h"

namespace ambit::identity {
namespace {

bool selfSigned(X509* cert) { return X509_check_issued(cert, cert) == X509_V_OK; }

// Verifies `cert` up to one of `roots` through `chain` (untrusted intermediates).
Status chainsToRoots(X509* cert, const std::vector<ossl::X509Ptr>& chain,
                     const std::vector<ossl::X509Ptr>& roots, std::string_view origin) {
  ossl::X509StorePtr store(X509_STORE_new());
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (!store || !ctx || untrusted == nullptr) {
    sk_X509_free(untrusted);
    return ossl::opensslError("allocate certificate store");
  }
  for (const auto& r : roots) X509_STORE_add_cert(store.get(), r.get());
  for (const auto& c : chain) sk_X509_push(untrusted, c.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(untrusted);
  ERR_clear_error();
  if (ok != 1) {
    return makeError(
        "{}: ca-cert.pem does not verify up to root-cert.pem through cert-chain.pem: {}", origin,
        X509_verify_cert_error_string(err));
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<EmbeddedCa>> EmbeddedCa::fromMaterial(const CaMaterial& m,
                                                             EmbeddedCaOptions options,
                                                             std::string_view origin) {
  AMBIT_TRY(validateTrustDomain(options.trustDomain));
  auto key = parsePrivateKeyPem(m.keyPem);
  if (!key) return key.error().context(fmt::format("{}: ca-key.pem", origin));
  auto cert = parseCertificatePem(m.certPem);
  if (!cert) return cert.error().context(fmt::format("{}: ca-cert.pem", origin));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1) {
    ERR_clear_error();
    return makeError("{}: ca-key.pem does not match ca-cert.pem", origin);
  }
  // X509_check_ca: 1 = a CA per basicConstraints (and keyCertSign when keyUsage is present).
  if (X509_check_ca(cert->get()) != 1) {
    return makeError(
        "{}: ca-cert.pem is not a CA certificate (basicConstraints CA:TRUE with "
        "keyCertSign is required)",
        origin);
  }
  AMBIT_TRY(checkSigningCertificate(cert->get(), fmt::format("{}: ca-cert.pem", origin)));
  if (m.rootPem.empty()) return makeError("{}: root-cert.pem is missing or empty", origin);
  auto roots = parseCertificateBundlePem(m.rootPem);
  if (!roots) return roots.error().context(fmt::format("{}: root-cert.pem", origin));
  for (const auto& r : *roots) {
    AMBIT_TRY(checkSigningCertificate(r.get(), fmt::format("{}: root-cert.pem", origin)));
  }
  std::vector<ossl::X509Ptr> chain;
  if (!m.chainPem.empty()) {
    auto parsed = parseCertificateBundlePem(m.chainPem);
    if (!parsed) return parsed.error().context(fmt::format("{}: cert-chain.pem", origin));
    chain = std::move(*parsed);
  }
  for (const auto& c : chain) {
    AMBIT_TRY(checkSigningCertificate(c.get(), fmt::format("{}: cert-chain.pem", origin)));
  }
  AMBIT_TRY(chainsToRoots(cert->get(), chain, *roots, origin));
  if (x509::notAfter(cert->get()) <= options.clock()) {
    return makeError("{}: ca-cert.pem has expired; rotate the CA", origin);
  }
  // Issued chains carry every intermediate: the signing cert unless it is the root, then the
  // chain's non-root certificates (skipping a repeat of the signing cert).
  std::vector<std::string> intermediates;
  if (!selfSigned(cert->get())) {
    auto pem = certificateToPem(cert->get());
    AMBIT_TRY(pem);
    intermediates.push_back(std::move(*pem));
  }
  for (const auto& c : chain) {
    if (selfSigned(c.get()) || X509_cmp(c.get(), cert->get()) == 0) continue;
    auto pem = certificateToPem(c.get());
    AMBIT_TRY(pem);
    intermediates.push_back(std::move(*pem));
  }
  logInfo("CA from {}: {} intermediate(s), trust domain {}", origin, intermediates.size(),
          options.trustDomain);
  return std::unique_ptr<EmbeddedCa>(new EmbeddedCa(std::move(options), std::move(*key),
                                                    std::move(*cert), m.rootPem, false,
                                                    std::move(intermediates)));
}

}  // namespace ambit::identity
