#pragma once
// LiteCaClient: the CertificateService client of the ztunnel, which carries no gRPC runtime:
// CreateCertificate over grpc_lite (common/grpc_lite/call.h) on the node agent's CA socket.
// Each fetch is one call on its own connection, bounded by `timeout`; errors as
// createCertificateResult() (certificate_fetcher.h) says, plus a named error when the answer
// is not exactly one CsrResponse.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <string>

#include "common/identity/certificate_fetcher.h"

namespace ambit::identity {

struct LiteCaClientOptions {
  std::string address;                                           // "unix:/run/ambit/node-1/ca.sock"
  std::string node;                                              // sent as CsrRequest.node
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // per call
};

class LiteCaClient final : public CertificateFetcher {
 public:
  // Calls run on `executor` (one thread); fetch() may be called from any thread and `done`
  // runs on the executor.
  LiteCaClient(boost::asio::any_io_executor executor, LiteCaClientOptions options);

  void fetch(std::string csrPem, std::chrono::seconds ttl, Done done) override;

 private:
  boost::asio::any_io_executor executor_;
  LiteCaClientOptions options_;
};

}  // namespace ambit::identity
