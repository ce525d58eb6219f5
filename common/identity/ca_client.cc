#include "common/identity/ca_client.h"

#include <grpcpp/grpcpp.h>

#include "ambit/v1/ca.grpc.pb.h"

namespace ambit::identity {

struct CaClient::Impl {
  CaClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ambit::v1::CertificateService::Stub> stub;

  ambit::v1::CsrRequest request(std::string_view csrPem, std::chrono::seconds ttl) const {
    ambit::v1::CsrRequest req;
    req.set_csr_pem(std::string(csrPem));
    req.set_ttl_seconds(static_cast<uint32_t>(std::max<int64_t>(0, ttl.count())));
    req.set_node(options.node);
    return req;
  }

  void setDeadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
  }

  Result<IssuedCertificate> toResult(const grpc::Status& s, ambit::v1::CsrResponse& resp) const {
    if (!s.ok()) {
      int code = kSignerFailure;
      switch (s.error_code()) {
        case grpc::StatusCode::INVALID_ARGUMENT:
          code = kBadRequest;
          break;
        case grpc::StatusCode::PERMISSION_DENIED:
          code = kNotAllowed;
          break;
        case grpc::StatusCode::UNAUTHENTICATED:
          code = kUnauthenticated;
          break;
        case grpc::StatusCode::UNAVAILABLE:
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          code = EAGAIN;
          break;
        default:
          break;
      }
      return Error{code, fmt::format("CreateCertificate via {}: {} (gRPC code {})", options.address,
                                     s.error_message(), static_cast<int>(s.error_code()))};
    }
    IssuedCertificate out;
    for (auto& pem : *resp.mutable_cert_chain_pem()) out.chainPem.push_back(std::move(pem));
    for (auto& pem : *resp.mutable_root_pem()) out.rootsPem.push_back(std::move(pem));
    if (out.chainPem.empty() || out.rootsPem.empty()) {
      return Error{kSignerFailure,
                   fmt::format("CreateCertificate via {}: empty chain or roots", options.address)};
    }
    return out;
  }
};

CaClient::CaClient(CaClientOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->channel = impl_->options.channel ? impl_->options.channel
                                          : grpc::CreateChannel(impl_->options.address,
                                                                grpc::InsecureChannelCredentials());
  impl_->stub = ambit::v1::CertificateService::NewStub(impl_->channel);
}

CaClient::~CaClient() = default;

Result<IssuedCertificate> CaClient::createCertificate(std::string_view csrPem,
                                                      std::chrono::seconds ttl) {
  grpc::ClientContext ctx;
  impl_->setDeadline(ctx);
  ambit::v1::CsrResponse resp;
  grpc::Status s = impl_->stub->CreateCertificate(&ctx, impl_->request(csrPem, ttl), &resp);
  return impl_->toResult(s, resp);
}

void CaClient::fetch(std::string csrPem, std::chrono::seconds ttl, Done done) {
  struct Call {
    grpc::ClientContext ctx;
    ambit::v1::CsrRequest req;
    ambit::v1::CsrResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->req = impl_->request(csrPem, ttl);
  impl_->setDeadline(call->ctx);
  // The callback keeps the call state and the stub alive until gRPC completes it.
  impl_->stub->async()->CreateCertificate(
      &call->ctx, &call->req, &call->resp,
      [call, impl = impl_, done = std::move(done)](grpc::Status s) {
        done(impl->toResult(s, call->resp));
      });
}

}  // namespace ambit::identity
