#include "agent/forwarding_signer.h"

#include <openssl/x509v3.h>

#include "common/identity/pem.h"
#include "common/identity/spiffe.h"

namespace ambit::agent {
namespace {

// The SPIFFE id a CSR asks for (its one URI SAN); the CA checks the rest.
Result<identity::SpiffeId> requestedId(std::string_view csrPem) {
  auto csr = identity::parseCsrPem(csrPem);
  if (!csr) return csr.error();
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(csr->get());
  auto* sans = static_cast<GENERAL_NAMES*>(
      exts == nullptr ? nullptr : X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  std::string uri;
  int uris = 0;
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_URI) continue;
    ++uris;
    const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
    uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
               static_cast<size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(sans);
  if (uris != 1) return makeError("the CSR must carry exactly one URI SAN, found {}", uris);
  return identity::SpiffeId::parse(uri);
}

}  // namespace

Result<identity::IssuedCertificate> ForwardingSigner::sign(
    std::string_view csrPem, std::chrono::seconds ttl,
    const identity::IdentityAuthorizer& authorize) {
  auto id = requestedId(csrPem);
  if (!id) return Error{identity::kBadRequest, "CSR rejected: " + id.error().message};
  if (authorize) {
    if (Status allowed = authorize(*id); !allowed) {
      return Error{identity::kNotAllowed,
                   fmt::format("identity {} not allowed: {}", id->toString(), allowed.message())};
    }
  }
  auto issued = control_->createCertificate(csrPem, ttl);
  if (!issued) return issued.error().context("ambit-control");
  return issued;
}

}  // namespace ambit::agent
