#pragma once
// Listening on a unix socket path owned by this daemon (gRPC servers on "unix:<path>").

#include <filesystem>

#include "common/status.h"

namespace ambit {

// Creates the socket's directory and removes a socket file a previous run left there. Refuses
// to remove anything that is not a socket.
Status prepareUnixSocketPath(const std::filesystem::path& path);

}  // namespace ambit
