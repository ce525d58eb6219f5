#pragma once
// The node agent's certificate signer in Kubernetes mode: the ztunnel asks the agent (its unix
// CA socket, as in local mode), the agent checks the identity against its node's pods and
// forwards the CSR to ambit-control with its own projected token. ambit-control applies the
// node-impersonation rule again with the API server's view, so a compromised ztunnel cannot
// obtain identities of pods on other nodes through either.
//
// Thread-safe (the CaClient is); sign() blocks its gRPC handler thread for the remote call.

#include <memory>

#include "common/identity/ca_client.h"
#include "common/identity/signer.h"

namespace ambit::agent {

class ForwardingSigner final : public identity::CertificateSigner {
 public:
  explicit ForwardingSigner(std::shared_ptr<identity::CaClient> control)
      : control_(std::move(control)) {}

 private:
  // Forwards with the requester's deadline less the time its answer needs to get back
  // (CaClient::createCertificate), so the requester hears why instead of its own timeout.
  Result<identity::IssuedCertificate> signBefore(std::string_view csrPem, std::chrono::seconds ttl,
                                                 const identity::IdentityAuthorizer& authorize,
                                                 identity::Deadline deadline) override;

  std::shared_ptr<identity::CaClient> control_;
};

}  // namespace ambit::agent
