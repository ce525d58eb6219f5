#include "agent/forwarding_signer.h"

#include "common/identity/pem.h"
#include "common/identity/svid_rules.h"

namespace ambit::agent {
namespace {

// The SPIFFE id a CSR asks for, after the same request rules the CA applies (svid_rules.h);
// the CA checks the rest (key, signature, trust domain).
Result<identity::SpiffeId> requestedId(std::string_view csrPem) {
  auto csr = identity::parseCsrPem(csrPem);
  if (!csr) return csr.error();
  auto uri = identity::checkCsrRequest(csr->get());
  if (!uri) return uri.error();
  return identity::SpiffeId::parse(uri->toString());
}

}  // namespace

Result<identity::IssuedCertificate> ForwardingSigner::signBefore(
    std::string_view csrPem, std::chrono::seconds ttl,
    const identity::IdentityAuthorizer& authorize, identity::Deadline deadline) {
  auto id = requestedId(csrPem);
  if (!id) return Error{identity::kBadRequest, "CSR rejected: " + id.error().message};
  if (authorize) {
    if (Status allowed = authorize(*id); !allowed) {
      return Error{identity::kNotAllowed,
                   fmt::format("identity {} not allowed: {}", id->toString(), allowed.message())};
    }
  }
  auto issued = control_->createCertificate(csrPem, ttl, deadline);
  if (!issued) return issued.error().context("ambit-control");
  return issued;
}

}  // namespace ambit::agent
