#include "common/identity/lite_ca_client.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <memory>
#include <optional>

#include "common/grpc_lite/call.h"

namespace ambit::identity {

namespace {
constexpr std::string_view kCreateCertificate = "/ambit.v1.CertificateService/CreateCertificate";
constexpr uint32_t kMaxAnswerBytes = 1u << 20;  // a chain and its roots: a few KiB
}  // namespace

LiteCaClient::LiteCaClient(boost::asio::any_io_executor executor, LiteCaClientOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

void LiteCaClient::fetch(std::string csrPem, std::chrono::seconds ttl, Done done) {
  std::string request = csrRequest(csrPem, ttl, options_.node).SerializeAsString();
  boost::asio::post(executor_, [executor = executor_, options = options_,
                                request = std::move(request), done = std::move(done)]() mutable {
    grpc_lite::CallOptions o;
    o.address = options.address;
    o.method = kCreateCertificate;
    o.timeout = options.timeout;
    o.max_receive_message = kMaxAnswerBytes;
    // A unary call: exactly one answer message, then the status.
    struct Answer {
      std::optional<v1::CsrResponse> response;
      std::string problem;
    };
    auto answer = std::make_shared<Answer>();
    grpc_lite::Call::Handlers h;
    h.message = [answer](std::string message) {
      if (answer->response) {
        answer->problem = "more than one answer to a unary call";
        return;
      }
      answer->response.emplace();
      if (!answer->response->ParseFromString(message)) {
        answer->problem = fmt::format("a CsrResponse of {} bytes does not parse", message.size());
      }
    };
    h.done = [answer, address = options.address,
              done = std::move(done)](grpc_lite::CallStatus status) {
      if (status.ok() && answer->problem.empty() && !answer->response) {
        answer->problem = "no answer message";
      }
      if (status.ok() && !answer->problem.empty()) {
        done(Error{kSignerFailure,
                   fmt::format("CreateCertificate via {}: {}", address, answer->problem)});
        return;
      }
      v1::CsrResponse empty;
      done(createCertificateResult(status, answer->response ? *answer->response : empty, address));
    };
    auto call = grpc_lite::Call::start(executor, std::move(o), std::move(h));
    call->send(request);
    call->closeSend();
  });
}

}  // namespace ambit::identity
