#pragma once
// DeltaStream calls through gRPC's runtime (its callback API), for daemons that reach
// ambit-control over TLS: every address form of channel.h. gRPC's callbacks only post to the
// config thread; writes are queued and issued from there, one at a time. A hold keeps gRPC from
// finishing the call while the config thread may still write: release() drops it once the
// stream is over.

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "ambit/v1/discovery.grpc.pb.h"
#include "common/discovery/client_stream.h"

namespace ambit::discovery {

// The factory maker for DiscoverySourceOptions::streams.
StreamFactoryMaker grpcStreams();

namespace internal {

class GrpcClientStream final
    : public ClientStream,
      public grpc::ClientBidiReactor<v1::DeltaDiscoveryRequest, v1::DeltaDiscoveryResponse>,
      public std::enable_shared_from_this<GrpcClientStream> {
 public:
  GrpcClientStream(boost::asio::io_context& io, ClientStreamEvents events, std::string address,
                   v1::DiscoveryService::Stub& stub);

  void start() override;
  void write(v1::DeltaDiscoveryRequest request) override;
  void release() override;
  // Any thread.
  void cancel() override { context_.TryCancel(); }
  // Blocks until gRPC's OnDone has run.
  void waitDone() override;
  const std::string& address() const override { return address_; }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  template <typename F>
  void post(F&& f);
  void pump();

  boost::asio::io_context& io_;
  ClientStreamEvents events_;
  std::string address_;
  v1::DiscoveryService::Stub& stub_;
  grpc::ClientContext context_;
  std::shared_ptr<GrpcClientStream> self_;       // released at OnDone
  v1::DeltaDiscoveryResponse response_;          // owned by gRPC while a read is in flight
  v1::DeltaDiscoveryRequest request_;            // owned by gRPC while a write is in flight
  std::deque<v1::DeltaDiscoveryRequest> queue_;  // config thread
  bool writing_ = false;                         // config thread
  bool released_ = false;                        // config thread
  // Set by OnDone; shared, because the stream itself may be gone by the time it is set.
  struct DoneLatch {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // mu
  };
  std::shared_ptr<DoneLatch> done_ = std::make_shared<DoneLatch>();
};

}  // namespace internal
}  // namespace ambit::discovery
