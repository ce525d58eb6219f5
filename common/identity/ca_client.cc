#include "common/identity/ca_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>

#include "ambit/v1/ca.grpc.pb.h"

namespace ambit::identity {

namespace {

struct Call {
  grpc::ClientContext ctx;
  ambit::v1::CsrRequest req;
  ambit::v1::CsrResponse resp;
};

}  // namespace

struct CaClient::Impl {
  CaClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ambit::v1::CertificateService::Stub> stub;
  // Calls gRPC has not completed yet: the destructor cancels them and waits, so the channel is
  // never released from inside one of its own callbacks (gRPC aborts on that).
  std::mutex mu;
  std::condition_variable idle;
  std::set<Call*> in_flight;

  void finished(Call* call) {
    std::lock_guard lock(mu);
    in_flight.erase(call);
    idle.notify_all();
  }

  ambit::v1::CsrRequest request(std::string_view csrPem, std::chrono::seconds ttl) const {
    return csrRequest(csrPem, ttl, options.node);
  }

  // Sets the call's deadline: the options' timeout, or `deadline` less the answer margin when
  // that is sooner (the caller has checked that it is still ahead).
  void prepare(grpc::ClientContext& ctx, Deadline deadline = kNoDeadline) const {
    Deadline own = std::chrono::system_clock::now() + options.timeout;
    if (deadline != kNoDeadline) own = std::min(own, deadline - options.answer_margin);
    ctx.set_deadline(own);
    ctx.set_wait_for_ready(options.wait_for_ready);
  }

  Result<IssuedCertificate> toResult(const grpc::Status& s, ambit::v1::CsrResponse& resp) const {
    grpc_lite::CallStatus status{static_cast<grpc_lite::StatusCode>(s.error_code()),
                                 s.error_message()};
    // A wait-for-ready call that never got a connection ends as a bare "Deadline Exceeded":
    // add what the channel is doing now, which tells an unreachable server from a slow one.
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && options.wait_for_ready) {
      switch (channel->GetState(false)) {
        case GRPC_CHANNEL_TRANSIENT_FAILURE:
          status.message += " (the channel to the server is failing to connect)";
          break;
        case GRPC_CHANNEL_CONNECTING:
          status.message += " (the channel to the server is still connecting)";
          break;
        default:
          break;
      }
    }
    return createCertificateResult(status, resp, options.address);
  }
};

namespace {

// Never freed on purpose, and reachable from here so LeakSanitizer does not count it: this
// channel's reference keeps gRPC's callback queue for the whole process.
struct PinnedChannel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ambit::v1::CertificateService::Stub> stub;
};
PinnedChannel* pinned_channel = nullptr;

}  // namespace

void pinGrpcCallbackQueue() {
  static std::once_flag once;
  std::call_once(once, [] {
    // One asynchronous call makes the channel take that reference; it fails at once (no such
    // socket, deadline now) and its callback owns nothing.
    pinned_channel = new PinnedChannel;
    pinned_channel->channel =
        grpc::CreateChannel("unix:/nonexistent/ambit-grpc-pin", grpc::InsecureChannelCredentials());
    pinned_channel->stub = ambit::v1::CertificateService::NewStub(pinned_channel->channel);
    auto call = std::make_shared<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now());
    pinned_channel->stub->async()->CreateCertificate(&call->ctx, &call->req, &call->resp,
                                                     [call](const grpc::Status&) {});
  });
}

CaClient::CaClient(CaClientOptions options) : impl_(std::make_unique<Impl>()) {
  pinGrpcCallbackQueue();
  impl_->options = std::move(options);
  impl_->channel = impl_->options.channel ? impl_->options.channel
                                          : grpc::CreateChannel(impl_->options.address,
                                                                grpc::InsecureChannelCredentials());
  impl_->stub = ambit::v1::CertificateService::NewStub(impl_->channel);
}

CaClient::~CaClient() {
  std::unique_lock lock(impl_->mu);
  for (Call* call : impl_->in_flight) call->ctx.TryCancel();
  impl_->idle.wait(lock, [this] { return impl_->in_flight.empty(); });
}

Result<IssuedCertificate> CaClient::createCertificate(std::string_view csrPem,
                                                      std::chrono::seconds ttl, Deadline deadline) {
  if (deadline <= std::chrono::system_clock::now() + impl_->options.answer_margin) {
    return Error{EAGAIN, fmt::format("CreateCertificate via {}: not asked, the requester's "
                                     "deadline leaves no time for an answer",
                                     impl_->options.address)};
  }
  grpc::ClientContext ctx;
  impl_->prepare(ctx, deadline);
  ambit::v1::CsrResponse resp;
  grpc::Status s = impl_->stub->CreateCertificate(&ctx, impl_->request(csrPem, ttl), &resp);
  return impl_->toResult(s, resp);
}

void CaClient::fetch(std::string csrPem, std::chrono::seconds ttl, Done done) {
  auto call = std::make_shared<Call>();
  call->req = impl_->request(csrPem, ttl);
  impl_->prepare(call->ctx);
  {
    std::lock_guard lock(impl_->mu);
    impl_->in_flight.insert(call.get());
  }
  // The callback keeps the call state alive until gRPC completes it; the client waits for it.
  impl_->stub->async()->CreateCertificate(
      &call->ctx, &call->req, &call->resp,
      [call, impl = impl_.get(), done = std::move(done)](grpc::Status s) {
        Result<IssuedCertificate> result = impl->toResult(s, call->resp);
        impl->finished(call.get());  // the client may be gone from here on
        done(std::move(result));
      });
}

}  // namespace ambit::identity
