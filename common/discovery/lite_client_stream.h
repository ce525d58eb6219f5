#pragma once
// DeltaStream calls through grpc_lite (common/grpc_lite/call.h): gRPC's protocol over ambit's
// own HTTP/2 on a local unix socket, with no gRPC runtime in the process. The ztunnel's way to
// its node agent's relay. Every address must be "unix:/path"; the maker says which is not.

#include "common/discovery/client_stream.h"

namespace ambit::discovery {

// The factory maker for DiscoverySourceOptions::streams.
StreamFactoryMaker liteStreams();

}  // namespace ambit::discovery
