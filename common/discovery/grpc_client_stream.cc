#include "common/discovery/grpc_client_stream.h"

#include <grpc/grpc.h>

#include <boost/asio/post.hpp>
#include <vector>

#include "common/discovery/channel.h"
#include "common/discovery/client.h"
#include "common/identity/ca_client.h"

namespace ambit::discovery {
namespace {

constexpr int kKeepaliveMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
constexpr int kStreamWindowBytes = 4 << 20;

// One stub (and channel) per address.
class GrpcStreamFactory final : public ClientStreamFactory {
 public:
  std::shared_ptr<internal::ClientStream> open(size_t address, boost::asio::io_context& io,
                                               internal::ClientStreamEvents events) override {
    return std::make_shared<internal::GrpcClientStream>(io, std::move(events), addresses_[address],
                                                        *stubs_[address]);
  }

  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<v1::DiscoveryService::Stub>> stubs_;
};

}  // namespace

StreamFactoryMaker grpcStreams() {
  return [](const DiscoverySourceOptions& options) -> Result<std::unique_ptr<ClientStreamFactory>> {
    identity::pinGrpcCallbackQueue();  // ca_client.h: streams use the callback API
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
    // A quiet stream is the normal state: keep pinging (the server permits it, server.cc).
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // Responses are small after the first (one pod event: one resource); gRPC's bandwidth probe
    // would ping the server on each of them (a PING and its ACK both ways, ~10 % of
    // ambit-control's CPU per event with ten clients, BENCHMARKS.md). Without it the stream
    // window stays at its initial size: make that large enough for a whole-mesh first response.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kStreamWindowBytes);
    // gRPC's own reconnect backoff would otherwise keep a channel failing fast for up to two
    // minutes after its server comes back; ours decides when to try again.
    setReconnectBackoff(args, options.initial_backoff, options.initial_backoff,
                        options.max_backoff);
    auto factory = std::make_unique<GrpcStreamFactory>();
    for (const std::string& address : options.addresses) {
      auto channel = makeControlChannel({.address = address,
                                         .control_ca = options.control_ca,
                                         .token_file = options.token_file,
                                         .server_name = options.server_name},
                                        args);
      if (!channel) return channel.error();
      factory->addresses_.push_back(address);
      factory->stubs_.push_back(v1::DiscoveryService::NewStub(*channel));
    }
    return std::unique_ptr<ClientStreamFactory>(std::move(factory));
  };
}

namespace internal {

GrpcClientStream::GrpcClientStream(boost::asio::io_context& io, ClientStreamEvents events,
                                   std::string address, v1::DiscoveryService::Stub& stub)
    : io_(io), events_(std::move(events)), address_(std::move(address)), stub_(stub) {}

template <typename F>
void GrpcClientStream::post(F&& f) {
  boost::asio::post(
      io_, [alive = events_.alive, self = shared_from_this(), f = std::forward<F>(f)]() mutable {
        if (alive.lock()) f();
      });
}

void GrpcClientStream::start() {
  self_ = shared_from_this();
  stub_.async()->DeltaStream(&context_, this);
  AddHold();
  StartRead(&response_);
  StartCall();
}

void GrpcClientStream::write(v1::DeltaDiscoveryRequest request) {
  if (released_) return;
  queue_.push_back(std::move(request));
  pump();
}

void GrpcClientStream::pump() {
  if (writing_ || released_ || queue_.empty()) return;
  request_ = std::move(queue_.front());
  queue_.pop_front();
  writing_ = true;
  StartWrite(&request_);
}

void GrpcClientStream::release() {
  if (released_) return;
  released_ = true;
  queue_.clear();
  RemoveHold();
}

void GrpcClientStream::waitDone() {
  std::shared_ptr<DoneLatch> latch = done_;
  std::unique_lock lock(latch->mu);
  latch->cv.wait(lock, [&] { return latch->done; });
}

void GrpcClientStream::OnReadDone(bool ok) {
  if (!ok) {
    post([this] { events_.read_ended(this); });
    return;
  }
  v1::DeltaDiscoveryResponse response = std::move(response_);
  response_.Clear();
  StartRead(&response_);
  post([this, response = std::move(response)]() mutable {
    events_.response(this, std::move(response));
  });
}

void GrpcClientStream::OnWriteDone(bool ok) {
  post([this, ok] {
    writing_ = false;
    if (ok) pump();
  });
}

void GrpcClientStream::OnDone(const grpc::Status& status) {
  std::shared_ptr<DoneLatch> latch = done_;
  // The posted handler takes the self-reference: the last reference is dropped on the config
  // thread (or with its io_context), never here. `this` may be gone once it is posted.
  grpc_lite::CallStatus end{static_cast<grpc_lite::StatusCode>(status.error_code()),
                            status.error_message()};
  boost::asio::post(io_, [alive = events_.alive, self = std::move(self_), end = std::move(end)] {
    if (alive.lock()) self->events_.done(self.get(), end);
  });
  {
    std::lock_guard lock(latch->mu);
    latch->done = true;
  }
  latch->cv.notify_all();
}

}  // namespace internal
}  // namespace ambit::discovery
