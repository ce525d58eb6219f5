#pragma once
// One DeltaStream call on the server side (internal to DiscoveryServer; see server.h for the
// protocol). The logic runs where the event happens: in gRPC's reaction (OnReadDone: an ACK or
// a subscription; OnWriteDone: the next coalesced response) and, for a store change, in the
// server's push pass (trySend). A mutex per stream serialises them; gRPC's StartRead/StartWrite
// /Finish are called under it, as gRPC's callback examples do (the library runs reactions on
// its own threads, not inside those calls). Handing every
// completion to one stream thread instead cost two thread wake-ups per response (a third of
// ambit-control's CPU with 10 clients). Authentication answers still go through the server's
// stream thread (they may come inline, before gRPC has the reactor). The object keeps itself
// alive until gRPC's OnDone.

#include <grpcpp/support/server_callback.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "ambit/v1/discovery.pb.h"
#include "common/discovery/authenticator.h"
#include "common/discovery/resource_store.h"

namespace grpc {
class CallbackServerContext;
}

namespace ambit::discovery::internal {

class DeltaStream;

// What a stream needs from its server. Methods are called from any thread (gRPC's, the
// server's stream thread), for one stream never two at once.
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  virtual boost::asio::io_context& streamIo() = 0;
  virtual ResourceStore& store() = 0;
  virtual void streamStarted(std::shared_ptr<DeltaStream> stream) = 0;  // authenticated
  virtual void streamEnded(const std::shared_ptr<DeltaStream>& stream) = 0;
  virtual void streamRefused() = 0;
  virtual void requested() = 0;  // after the request's effects (responses) are started
  virtual void responded(config::MeshType type) = 0;
  virtual void acked(config::MeshType type) = 0;
  virtual void nacked(config::MeshType type) = 0;
};

class DeltaStream final
    : public grpc::ServerBidiReactor<v1::DeltaDiscoveryRequest, v1::DeltaDiscoveryResponse>,
      public std::enable_shared_from_this<DeltaStream> {
 public:
  // Creates the stream for a new call and asks `authenticator` about it; `host_alive` tells
  // a late authentication answer whether the server still exists.
  static DeltaStream* begin(StreamHost& host, std::weak_ptr<void> host_alive,
                            Authenticator& authenticator, grpc::CallbackServerContext* context);

  explicit DeltaStream(StreamHost& host) : host_(host) {}

  // Any thread: the store changed; send what the client lacks if nothing is in flight.
  void trySend();
  // Any thread: end the call (after the write in flight, if any).
  void finish(grpc::Status status);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
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

  // The *Locked methods need mu_ held.
  void authenticated(Result<Principal> principal);
  void finishLocked(grpc::Status status);
  void trySendLocked();
  void readDone(bool ok);
  void writeDone(bool ok);
  void startRead();
  void handleRequest(const v1::DeltaDiscoveryRequest& request);
  void acknowledge(config::MeshType type, const v1::DeltaDiscoveryRequest& request);
  // The response `type` needs now, or nullopt when the client holds everything.
  std::optional<v1::DeltaDiscoveryResponse> buildResponse(config::MeshType type);
  std::string describe() const;

  StreamHost& host_;
  std::mutex mu_;                      // guards everything below but self_
  std::shared_ptr<DeltaStream> self_;  // released at OnDone
  std::string peer_;
  std::optional<Principal> principal_;
  std::string node_;
  std::array<TypeState, config::kMeshTypes.size()> types_;
  v1::DeltaDiscoveryRequest request_;    // owned by gRPC while a read is in flight
  v1::DeltaDiscoveryResponse response_;  // owned by gRPC while a write is in flight
  bool lean_services_ = false;  // the client rebuilds Service endpoints (service_membership.h)
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> deferred_finish_;
  uint64_t next_nonce_ = 1;
  size_t next_type_ = 0;  // round robin over types with something to send
};

}  // namespace ambit::discovery::internal
