#pragma once
// How the certificate manager obtains certificates (CertificateFetcher), and the parts of a
// CertificateService call that every client shares: the request, the answer, and the mapping
// of a call's gRPC status to the signer error codes of signer.h. Two clients implement it:
// CaClient (ca_client.h, gRPC's runtime: the agent, the waypoint, tools) and LiteCaClient
// (lite_ca_client.h, grpc_lite on the node's CA socket: the ztunnel).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "ambit/v1/ca.pb.h"
#include "common/grpc_lite/status.h"
#include "common/identity/signer.h"
#include "common/status.h"

namespace ambit::identity {

// Asynchronous CSR signing. fetch() never blocks the caller; done runs exactly once, on a
// thread of the implementation's choosing (callers re-post it onto their own executor).
class CertificateFetcher {
 public:
  using Done = std::function<void(Result<IssuedCertificate>)>;
  virtual ~CertificateFetcher() = default;
  virtual void fetch(std::string csrPem, std::chrono::seconds ttl, Done done) = 0;
};

// The CreateCertificate request for a CSR, a requested TTL (negative: 0, the signer's maximum)
// and the requesting node.
v1::CsrRequest csrRequest(std::string_view csrPem, std::chrono::seconds ttl,
                          const std::string& node);

// The result of a CreateCertificate call through `address`: the certificate of an OK answer
// (an error if its chain or roots are empty), or for a failed call an error whose code is
// kBadRequest (INVALID_ARGUMENT), kNotAllowed (PERMISSION_DENIED), kUnauthenticated
// (UNAUTHENTICATED), EAGAIN (UNAVAILABLE or DEADLINE_EXCEEDED: worth retrying) or
// kSignerFailure, with the server's message.
Result<IssuedCertificate> createCertificateResult(const grpc_lite::CallStatus& status,
                                                  v1::CsrResponse& response,
                                                  std::string_view address);

}  // namespace ambit::identity
