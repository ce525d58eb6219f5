#include "common/discovery/lite_client_stream.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <vector>

#include "common/discovery/client.h"
#include "common/grpc_lite/call.h"

namespace ambit::discovery {
namespace {

constexpr std::string_view kDeltaStreamMethod = "/ambit.v1.DiscoveryService/DeltaStream";
// The first response carries the whole mesh (16.8 MB for 10,000 pods, BENCHMARKS.md): no
// practical limit, as with the gRPC client (SetMaxReceiveMessageSize(-1)).
constexpr uint32_t kMaxResponseBytes = 1u << 31;

// Everything on the config thread, grpc_lite's handlers included: cancel() is only called
// from there (DiscoverySource::Core::stop) and waitDone() has nothing to wait for.
class LiteClientStream final : public internal::ClientStream,
                               public std::enable_shared_from_this<LiteClientStream> {
 public:
  LiteClientStream(boost::asio::io_context& io, internal::ClientStreamEvents events,
                   std::string address)
      : io_(io), events_(std::move(events)), address_(std::move(address)) {}

  void start() override {
    grpc_lite::CallOptions o;
    o.address = address_;
    o.method = kDeltaStreamMethod;
    o.max_receive_message = kMaxResponseBytes;
    std::weak_ptr<LiteClientStream> weak = weak_from_this();
    grpc_lite::Call::Handlers h;
    h.message = [weak](std::string message) {
      auto self = weak.lock();
      if (!self || !self->events_.alive.lock()) return;
      v1::DeltaDiscoveryResponse response;
      if (!response.ParseFromString(message)) {
        self->call_->cancel(
            {grpc_lite::StatusCode::kInternal,
             fmt::format("a DeltaDiscoveryResponse of {} bytes does not parse", message.size())});
        return;
      }
      self->events_.response(self.get(), std::move(response));
    };
    // The call holds this handler until it is done: it keeps the stream alive that long.
    h.done = [self = shared_from_this()](grpc_lite::CallStatus status) {
      if (self->events_.alive.lock()) self->events_.done(self.get(), std::move(status));
    };
    call_ = grpc_lite::Call::start(io_.get_executor(), std::move(o), std::move(h));
  }

  void write(v1::DeltaDiscoveryRequest request) override {
    if (released_ || !call_) return;
    call_->send(request.SerializeAsString());
  }

  void release() override { released_ = true; }

  void cancel() override {
    if (call_) call_->cancel();
  }

  void waitDone() override {}

  const std::string& address() const override { return address_; }

 private:
  boost::asio::io_context& io_;
  internal::ClientStreamEvents events_;
  std::string address_;
  std::shared_ptr<grpc_lite::Call> call_;
  bool released_ = false;
};

class LiteStreamFactory final : public ClientStreamFactory {
 public:
  explicit LiteStreamFactory(std::vector<std::string> addresses)
      : addresses_(std::move(addresses)) {}

  std::shared_ptr<internal::ClientStream> open(size_t address, boost::asio::io_context& io,
                                               internal::ClientStreamEvents events) override {
    return std::make_shared<LiteClientStream>(io, std::move(events), addresses_[address]);
  }

 private:
  std::vector<std::string> addresses_;
};

}  // namespace

StreamFactoryMaker liteStreams() {
  return [](const DiscoverySourceOptions& options) -> Result<std::unique_ptr<ClientStreamFactory>> {
    for (const std::string& address : options.addresses) {
      if (!grpc_lite::isUnixSocketAddress(address)) {
        return makeError(
            "address '{}': this daemon reaches its node agent over a local socket only "
            "(unix:/path)",
            address);
      }
    }
    return std::unique_ptr<ClientStreamFactory>(
        std::make_unique<LiteStreamFactory>(options.addresses));
  };
}

}  // namespace ambit::discovery
