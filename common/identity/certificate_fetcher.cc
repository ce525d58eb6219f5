#include "common/identity/certificate_fetcher.h"

#include <fmt/format.h>

#include <algorithm>

namespace ambit::identity {

v1::CsrRequest csrRequest(std::string_view csrPem, std::chrono::seconds ttl,
                          const std::string& node) {
  v1::CsrRequest req;
  req.set_csr_pem(std::string(csrPem));
  req.set_ttl_seconds(static_cast<uint32_t>(std::max<int64_t>(0, ttl.count())));
  req.set_node(node);
  return req;
}

Result<IssuedCertificate> createCertificateResult(const grpc_lite::CallStatus& status,
                                                  v1::CsrResponse& response,
                                                  std::string_view address) {
  using grpc_lite::StatusCode;
  if (!status.ok()) {
    int code = kSignerFailure;
    switch (status.code) {
      case StatusCode::kInvalidArgument:
        code = kBadRequest;
        break;
      case StatusCode::kPermissionDenied:
        code = kNotAllowed;
        break;
      case StatusCode::kUnauthenticated:
        code = kUnauthenticated;
        break;
      case StatusCode::kUnavailable:
      case StatusCode::kDeadlineExceeded:
        code = EAGAIN;
        break;
      default:
        break;
    }
    return Error{code, fmt::format("CreateCertificate via {}: {} (gRPC code {})", address,
                                   status.message, status.number())};
  }
  IssuedCertificate out;
  for (auto& pem : *response.mutable_cert_chain_pem()) out.chainPem.push_back(std::move(pem));
  for (auto& pem : *response.mutable_root_pem()) out.rootsPem.push_back(std::move(pem));
  if (out.chainPem.empty() || out.rootsPem.empty()) {
    return Error{kSignerFailure,
                 fmt::format("CreateCertificate via {}: empty chain or roots", address)};
  }
  return out;
}

}  // namespace ambit::identity
