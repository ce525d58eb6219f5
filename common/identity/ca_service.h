#pragma once
// The CertificateService (proto/ambit/v1/ca.proto) over gRPC, in front of any
// CertificateSigner. In local mode the agent hosts it on a unix socket such as
// "unix:/run/ambit/<node>/ca.sock" with its EmbeddedCa; the ztunnel calls it through CaClient.
//
// The server signs only identities its authorizer allows for the requesting node (the agent
// allows the service accounts of pods on its node). The node name in the request is
// self-declared: the unix socket's file permissions are what keep other processes out.
//
// Threading: gRPC's sync server runs handlers on its own thread pool; the signer and the
// authorizer must be thread-safe. Status mapping: kBadRequest -> INVALID_ARGUMENT,
// kNotAllowed -> PERMISSION_DENIED, kUnauthenticated -> UNAUTHENTICATED,
// EAGAIN -> UNAVAILABLE, anything else -> INTERNAL.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ambit/v1/ca.grpc.pb.h"
#include "common/identity/signer.h"
#include "common/status.h"

namespace ambit::identity {

// Error (refuse) unless `node` may obtain a certificate for id.
using NodeIdentityAuthorizer = std::function<Status(const SpiffeId& id, std::string_view node)>;

// Authenticates one call (Kubernetes mode: the bearer token in the call's metadata, checked with
// a TokenReview) and returns what the caller may obtain, or an error with kUnauthenticated,
// kNotAllowed (refused: PERMISSION_DENIED) or EAGAIN (could not check now: UNAVAILABLE) and the
// reason. Runs on a gRPC handler thread and may block it.
using CallAuthorizer = std::function<Result<IdentityAuthorizer>(
    grpc::ServerContext& context, const ambit::v1::CsrRequest& request)>;

// What became of one CreateCertificate call, by the status it got (for metrics).
enum class CsrOutcome {
  kSigned,
  kUnauthenticated,  // the caller's credentials were not accepted
  kNotAllowed,       // the identity is not the caller's to obtain (PERMISSION_DENIED)
  kBadRequest,       // malformed or unacceptable CSR (INVALID_ARGUMENT)
  kUnavailable,      // could not be checked now (UNAVAILABLE)
  kSignerFailure,    // internal failure while signing
};
using CsrObserver = std::function<void(CsrOutcome)>;
// The outcome an error from an authorizer or signer means.
CsrOutcome csrOutcomeOf(const Error& e);

class CertificateServiceImpl final : public ambit::v1::CertificateService::Service {
 public:
  CertificateServiceImpl(std::shared_ptr<CertificateSigner> signer,
                         NodeIdentityAuthorizer authorize);
  CertificateServiceImpl(std::shared_ptr<CertificateSigner> signer, CallAuthorizer authorize);

  // Told of every call's outcome, on the handler thread. Set before the service is served.
  void observe(CsrObserver observer) { observer_ = std::move(observer); }

  grpc::Status CreateCertificate(grpc::ServerContext* context, const ambit::v1::CsrRequest* request,
                                 ambit::v1::CsrResponse* response) override;

 private:
  grpc::Status refuse(const Error& e);

  std::shared_ptr<CertificateSigner> signer_;
  CallAuthorizer authorize_;
  CsrObserver observer_;
};

// Owns a running gRPC server hosting CertificateServiceImpl; stops it on destruction.
class CaServer {
 public:
  // address: "unix:<path>" (the parent directory is created, a stale socket file is removed,
  // the socket is made 0660) or any other gRPC listening address.
  [[nodiscard]] static Result<std::unique_ptr<CaServer>> start(
      const std::string& address, std::shared_ptr<CertificateSigner> signer,
      NodeIdentityAuthorizer authorize);
  ~CaServer();
  CaServer(const CaServer&) = delete;
  CaServer& operator=(const CaServer&) = delete;

  // Stops accepting calls and waits for running ones; idempotent.
  void shutdown();
  const std::string& address() const { return address_; }

 private:
  CaServer(std::string address, std::unique_ptr<CertificateServiceImpl> service,
           std::unique_ptr<grpc::Server> server);

  std::string address_;
  std::unique_ptr<CertificateServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace ambit::identity
