#pragma once
// The signing contract shared by the agent's embedded CA (local mode) and ambit-control
// (Kubernetes mode); the gRPC CertificateService serves any CertificateSigner.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/identity/spiffe.h"
#include "common/status.h"

namespace ambit::identity {

// Wall clock used for certificate validity; injectable so tests can issue past/future certs.
using WallClock = std::function<std::chrono::system_clock::time_point()>;
inline WallClock systemWallClock() {
  return [] { return std::chrono::system_clock::now(); };
}

// A signed leaf (chain leaf first) and the trust anchors that verify it, all PEM.
struct IssuedCertificate {
  std::vector<std::string> chainPem;
  std::vector<std::string> rootsPem;
};

// Decides whether the requester may obtain a certificate for id. Returning an error refuses;
// the error message is sent back to the requester.
using IdentityAuthorizer = std::function<Status(const SpiffeId& id)>;

// Error codes set by signers, so transports can map them (gRPC INVALID_ARGUMENT, ...).
inline constexpr int kBadRequest = EINVAL;      // malformed or unacceptable CSR
inline constexpr int kNotAllowed = EACCES;      // authorizer refused the identity
inline constexpr int kSignerFailure = EIO;      // internal failure (OpenSSL, storage)
inline constexpr int kUnauthenticated = EPERM;  // the caller's credentials were not accepted

// When the requester stops waiting for an answer (a gRPC call's deadline); kNoDeadline: never.
using Deadline = std::chrono::system_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

class CertificateSigner {
 public:
  virtual ~CertificateSigner() = default;
  // Verifies csrPem and issues a leaf for its SPIFFE id valid for ttl (the signer may shorten
  // it; zero means the signer's maximum). A signer that asks another server (the agent's
  // ForwardingSigner) gives up early enough for its answer to reach the requester before
  // `deadline`. Thread-safe.
  [[nodiscard]] Result<IssuedCertificate> sign(std::string_view csrPem, std::chrono::seconds ttl,
                                               const IdentityAuthorizer& authorize,
                                               Deadline deadline = kNoDeadline) {
    return signBefore(csrPem, ttl, authorize, deadline);
  }

 private:
  [[nodiscard]] virtual Result<IssuedCertificate> signBefore(std::string_view csrPem,
                                                             std::chrono::seconds ttl,
                                                             const IdentityAuthorizer& authorize,
                                                             Deadline deadline) = 0;
};

}  // namespace ambit::identity
