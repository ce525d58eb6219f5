#pragma once
// One DeltaStream call on the server side (internal to DiscoveryServer; see server.h for the
// protocol), on gRPC's completion-queue API: the server's one thread both polls the queue and
// runs every stream's logic when an operation completes (a request read: an ACK or a
// subscription; a response written: the next coalesced one), and the server's push pass runs
// there too. Nothing is handed from thread to thread per message. (gRPC 1.51's callback API,
// used before, read on a poller thread and ran each reaction on another, two thread wake-ups
// per response and per ACK; with ten clients that was a third of ambit-control's CPU per
// event.) Work from other threads (a store change, an authentication answer) reaches the
// queue thread through StreamHost::post(). Each object keeps itself alive until its call is
// done and no operation of it is in flight.

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "ambit/v1/discovery.grpc.pb.h"
#include "common/discovery/authenticator.h"
#include "common/discovery/resource_store.h"

namespace grpc {
class ServerCompletionQueue;
}

namespace ambit::discovery::internal {

class DeltaStream;

// What the completion queue hands back: the operation that completed.
class CqTag {
 public:
  virtual void complete(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// What a stream needs from its server. Called on the queue thread, except post().
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  // Any thread: runs `fn` on the queue thread soon (dropped once the server is shutting down).
  virtual void post(std::function<void()> fn) = 0;
  // Runs `start`, which starts one gRPC operation on the queue, unless the queue is shutting
  // down (an operation started then would complete on a queue that no longer takes events);
  // returns whether it ran. The queue cannot begin shutting down meanwhile.
  virtual bool startOp(const std::function<void()>& start) = 0;
  // Queue thread: asks gRPC for the next call (DeltaStream::listen) through startOp().
  virtual void listenNext() = 0;
  // Queue thread: the call request of listen() came back (a call, or the server shutting down).
  virtual void requestReturned() = 0;
  virtual ResourceStore& store() = 0;
  virtual void streamStarted(std::shared_ptr<DeltaStream> stream) = 0;  // authenticated
  virtual void streamEnded(const std::shared_ptr<DeltaStream>& stream) = 0;
  virtual void streamRefused() = 0;
  virtual void requested() = 0;  // after the request's effects (responses) are started
  virtual void responded(config::MeshType type) = 0;
  virtual void acked(config::MeshType type) = 0;
  virtual void nacked(config::MeshType type) = 0;
};

class DeltaStream final : public std::enable_shared_from_this<DeltaStream> {
 public:
  using Service = v1::DiscoveryService::AsyncService;

  // Asks gRPC for the next DeltaStream call; when it arrives, the stream has the host ask for
  // the one after and has `authenticator` check the caller. `host_alive` tells a late
  // authentication answer whether the server still exists.
  static void listen(StreamHost& host, std::weak_ptr<void> host_alive, Service& service,
                     grpc::ServerCompletionQueue& cq, Authenticator& authenticator);

  DeltaStream(StreamHost& host, std::weak_ptr<void> host_alive, Authenticator& authenticator);

  // Queue thread: the store changed; send what the client lacks if nothing is in flight.
  void trySend();
  // Queue thread: end the call (after the write in flight, if any).
  void finish(grpc::Status status);

 private:
  // A completion of one kind of operation of this stream.
  struct Op final : CqTag {
    Op(DeltaStream* s, void (DeltaStream::*h)(bool)) : stream(s), handler(h) {}
    DeltaStream* stream;
    void (DeltaStream::*handler)(bool);
    void complete(bool ok) override;
  };
  struct TypeState {
    bool subscribed = false;
    bool wildcard = false;
    std::set<std::string> names;
    std::map<std::string, std::string> held;  // name -> version the client holds
    std::string pending_nonce;                // the un-ACKed response, if any
    bool must_respond = false;                // a new subscription awaits its first response
    bool clean = false;                       // nothing to send as of `diffed_revision`
    uint64_t diffed_revision = 0;
  };

  void accepted(bool ok);
  void authenticated(Result<Principal> principal);
  void readDone(bool ok);
  void writeDone(bool ok);
  void finishDone(bool ok);
  void callDone(bool ok);
  void startRead();
  // Releases the stream once its call is done and nothing is in flight.
  void releaseIfIdle();
  void handleRequest(const v1::DeltaDiscoveryRequest& request);
  void acknowledge(config::MeshType type, const v1::DeltaDiscoveryRequest& request);
  // The response `type` needs now, or nullopt when the client holds everything.
  std::optional<v1::DeltaDiscoveryResponse> buildResponse(config::MeshType type);
  std::string describe() const;

  StreamHost& host_;
  std::weak_ptr<void> host_alive_;
  Authenticator& authenticator_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<v1::DeltaDiscoveryResponse, v1::DeltaDiscoveryRequest> io_;
  Op accept_op_, read_op_, write_op_, finish_op_, done_op_;
  std::shared_ptr<DeltaStream> self_;  // held until released
  int in_flight_ = 0;                  // gRPC operations started and not yet completed
  bool call_done_ = false;
  bool started_ = false;  // authenticated and registered with the host
  std::string peer_;
  std::optional<Principal> principal_;
  std::string node_;
  std::array<TypeState, config::kMeshTypes.size()> types_;
  v1::DeltaDiscoveryRequest request_;    // owned by gRPC while a read is in flight
  v1::DeltaDiscoveryResponse response_;  // owned by gRPC while a write is in flight
  bool lean_services_ = false;  // the client rebuilds Service endpoints (service_membership.h)
  bool writing_ = false;
  bool finishing_ = false;
  std::optional<grpc::Status> deferred_finish_;
  uint64_t next_nonce_ = 1;
  size_t next_type_ = 0;  // round robin over types with something to send
};

}  // namespace ambit::discovery::internal
