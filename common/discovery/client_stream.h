#pragma once
// How DiscoverySource (client.h) reaches a server: one DeltaStream call at a time, opened by a
// ClientStreamFactory. Two implementations:
//   grpcStreams() (grpc_client_stream.h)  gRPC's runtime: TLS to ambit-control with a bearer
//                                          token, or a unix socket (the agent, the waypoint)
//   liteStreams() (lite_client_stream.h)  grpc_lite over ambit's own HTTP/2, unix sockets only:
//                                          the ztunnel, which carries no gRPC runtime
// Every event of a stream reaches DiscoverySource's thread (the `io` given to open()).

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "ambit/v1/discovery.pb.h"
#include "common/grpc_lite/status.h"
#include "common/status.h"

namespace ambit::discovery {

struct DiscoverySourceOptions;

namespace internal {

class ClientStream;

// Config-thread handlers of a stream's events; a handler is skipped once `alive` has expired.
struct ClientStreamEvents {
  std::weak_ptr<void> alive;
  std::function<void(ClientStream*, v1::DeltaDiscoveryResponse)> response;
  // The server will send nothing more (the call may still be finishing).
  std::function<void(ClientStream*)> read_ended;
  // Last: the call is over, with its status.
  std::function<void(ClientStream*, grpc_lite::CallStatus)> done;
};

// One DeltaStream call. Every method but cancel() on the config thread.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Starts the call; the stream keeps itself alive until it is done.
  virtual void start() = 0;
  // Queues a request; ignored once released.
  virtual void write(v1::DeltaDiscoveryRequest request) = 0;
  // No more writes: the call may finish. Idempotent.
  virtual void release() = 0;
  // Cancels the call (the server sees CANCELLED).
  virtual void cancel() = 0;
  // Returns once the implementation holds no reference to the stream's events any more.
  virtual void waitDone() = 0;
  virtual const std::string& address() const = 0;
};

}  // namespace internal

class ClientStreamFactory {
 public:
  virtual ~ClientStreamFactory() = default;
  // A stream (not started yet) to the source's address number `address`.
  virtual std::shared_ptr<internal::ClientStream> open(size_t address, boost::asio::io_context& io,
                                                       internal::ClientStreamEvents events) = 0;
};

// Builds the factory for a source's options (its addresses, CA, token...), or says why not.
using StreamFactoryMaker =
    std::function<Result<std::unique_ptr<ClientStreamFactory>>(const DiscoverySourceOptions&)>;

}  // namespace ambit::discovery
