// Fuzzes the waypoint's HTTP/2 session (waypoint/h2c_connection.h under HttpProxy): the input
// is the HTTP/2 a client sends after the connection preface, inside an HBONE tunnel to the
// h2-app Service (10.96.0.30:80, appProtocol http2), so every frame reaches H2cConnection and
// every complete request the same pipeline as HTTP/1.1 (normalise, authorize, route, 503
// upstream). See support/waypoint_harness.h.
#include <cstdint>
#include <string>

#include "tests/fuzz/support/h2_frames.h"
#include "tests/fuzz/support/waypoint_harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", ambit::fuzz::fuzzLogLevel());
  (void)ambit::fuzz::waypointMesh();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string h2c(ambit::fuzz::kClientPreface);
  h2c.append(reinterpret_cast<const char*>(data), size);
  ambit::fuzz::serveWaypointConnection(ambit::fuzz::connectTunnel("10.96.0.30:80", h2c));
  return 0;
}
