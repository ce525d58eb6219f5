#include "common/identity/ca_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/log.h"
#include "common/unix_socket.h"

namespace ambit::identity {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

grpc::Status toGrpc(const Error& e) {
  switch (e.code) {
    case kBadRequest:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message);
    case kNotAllowed:
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, e.message);
    case kUnauthenticated:
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, e.message);
    case EAGAIN:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.message);
    default:
      return grpc::Status(grpc::StatusCode::INTERNAL, e.message);
  }
}

}  // namespace

CsrOutcome csrOutcomeOf(const Error& e) {
  switch (e.code) {
    case kBadRequest:
      return CsrOutcome::kBadRequest;
    case kNotAllowed:
      return CsrOutcome::kNotAllowed;
    case kUnauthenticated:
      return CsrOutcome::kUnauthenticated;
    case EAGAIN:
      return CsrOutcome::kUnavailable;
    default:
      return CsrOutcome::kSignerFailure;
  }
}

CertificateServiceImpl::CertificateServiceImpl(std::shared_ptr<CertificateSigner> signer,
                                               NodeIdentityAuthorizer authorize)
    : signer_(std::move(signer)) {
  // Local mode: the node name in the request is trusted (the unix socket's permissions guard it).
  authorize_ = [authorize = std::move(authorize)](
                   grpc::ServerContext&,
                   const ambit::v1::CsrRequest& request) -> Result<IdentityAuthorizer> {
    return IdentityAuthorizer([authorize, node = request.node()](const SpiffeId& id) {
      if (!authorize) return Status(makeError("no authorizer configured"));
      return authorize(id, node);
    });
  };
}

CertificateServiceImpl::CertificateServiceImpl(std::shared_ptr<CertificateSigner> signer,
                                               CallAuthorizer authorize)
    : signer_(std::move(signer)), authorize_(std::move(authorize)) {}

grpc::Status CertificateServiceImpl::CreateCertificate(grpc::ServerContext* context,
                                                       const ambit::v1::CsrRequest* request,
                                                       ambit::v1::CsrResponse* response) {
  const std::string& node = request->node();
  auto allowed = authorize_(*context, *request);
  if (!allowed) {
    logWarn("CreateCertificate from {} (node '{}') refused: {}", context->peer(), node,
            allowed.error().message);
    return refuse(allowed.error());
  }
  auto issued = signer_->sign(request->csr_pem(), std::chrono::seconds(request->ttl_seconds()),
                              *allowed, context->deadline());
  if (!issued) {
    logWarn("CreateCertificate from node '{}' refused: {}", node, issued.error().message);
    return refuse(issued.error());
  }
  for (auto& pem : issued->chainPem) response->add_cert_chain_pem(std::move(pem));
  for (auto& pem : issued->rootsPem) response->add_root_pem(std::move(pem));
  if (observer_) observer_(CsrOutcome::kSigned);
  return grpc::Status::OK;
}

grpc::Status CertificateServiceImpl::refuse(const Error& e) {
  if (observer_) observer_(csrOutcomeOf(e));
  return toGrpc(e);
}

CaServer::CaServer(std::string address, std::unique_ptr<CertificateServiceImpl> service,
                   std::unique_ptr<grpc::Server> server)
    : address_(std::move(address)), service_(std::move(service)), server_(std::move(server)) {}

CaServer::~CaServer() { shutdown(); }

void CaServer::shutdown() {
  if (server_) {
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }
}

Result<std::unique_ptr<CaServer>> CaServer::start(const std::string& address,
                                                  std::shared_ptr<CertificateSigner> signer,
                                                  NodeIdentityAuthorizer authorize) {
  bool unix = std::string_view(address).starts_with(kUnixPrefix);
  std::filesystem::path socketPath;
  if (unix) {
    socketPath = address.substr(kUnixPrefix.size());
    AMBIT_TRY(prepareUnixSocketPath(socketPath));
  }
  auto service = std::make_unique<CertificateServiceImpl>(std::move(signer), std::move(authorize));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return makeError("start CertificateService on {}: gRPC could not listen", address);
  if (unix && ::chmod(socketPath.c_str(), 0660) != 0) {
    return errnoError(fmt::format("chmod {}", socketPath.string()));
  }
  logInfo("CertificateService listening on {}", address);
  return std::unique_ptr<CaServer>(new CaServer(address, std::move(service), std::move(server)));
}

}  // namespace ambit::identity
