#pragma once
// One DeltaStream call on the client side (internal to DiscoverySource). gRPC's callbacks
// post events to the config thread through `Events`; writes are queued and issued from the
// config thread, one at a time. A hold keeps gRPC from finishing the call while the config
// thread may still write: release() drops it once the stream is over.

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "ambit/v1/discovery.grpc.pb.h"

namespace ambit::discovery::internal {

class ClientStream;

// Config-thread handlers of a stream's events; a handler is skipped once `alive` has expired.
struct ClientStreamEvents {
  std::weak_ptr<void> alive;
  std::function<void(ClientStream*, v1::DeltaDiscoveryResponse)> response;
  std::function<void(ClientStream*)> read_ended;
  std::function<void(ClientStream*, grpc::Status)> done;
};

class ClientStream final
    : public grpc::ClientBidiReactor<v1::DeltaDiscoveryRequest, v1::DeltaDiscoveryResponse>,
      public std::enable_shared_from_this<ClientStream> {
 public:
  ClientStream(boost::asio::io_context& io, ClientStreamEvents events, std::string address);

  // Config thread. Starts the call; the object keeps itself alive until OnDone.
  void start(v1::DiscoveryService::Stub& stub);
  // Config thread. Queues a request; ignored once released.
  void write(v1::DeltaDiscoveryRequest request);
  // Config thread. No more writes; lets gRPC finish the call. Idempotent.
  void release();
  // Any thread. Cancels the call (the server sees CANCELLED).
  void cancel() { context_.TryCancel(); }
  // Blocks until gRPC's OnDone has run.
  void waitDone();
  const std::string& address() const { return address_; }

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
  grpc::ClientContext context_;
  std::shared_ptr<ClientStream> self_;           // released at OnDone
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

}  // namespace ambit::discovery::internal
