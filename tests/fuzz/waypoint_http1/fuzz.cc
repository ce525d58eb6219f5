// Fuzzes the waypoint's HTTP/1.1 request path: the input is what a client sends inside an
// HBONE tunnel to the my-app Service VIP (10.96.0.10:80), and runs through the production
// pipeline (HttpProxy::serveTunnel): framing (MessageReader: keep-alive, pipelining, chunked
// bodies, smuggling checks, limits) -> path normalisation -> RequestAuthentication (JWT) ->
// L7 AuthorizationPolicy -> routing (matches, rewrites, redirects, faults, header operations)
// -> upstream (no client certificate: 503) -> response. See support/waypoint_harness.h.
#include <cstdint>
#include <string_view>

#include "tests/fuzz/support/h2_frames.h"
#include "tests/fuzz/support/waypoint_harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", ambit::fuzz::fuzzLogLevel());
  (void)ambit::fuzz::waypointMesh();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view request(reinterpret_cast<const char*>(data), size);
  ambit::fuzz::serveWaypointConnection(ambit::fuzz::connectTunnel("10.96.0.10:80", request));
  return 0;
}
