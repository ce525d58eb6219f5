#pragma once
// For the end-to-end tests of the ambit-control binary: one ambit-control replica as a child
// process of the test (stopped by PID when the object goes, also after a failed ASSERT), plain
// HTTP GETs of its monitoring port, and a check that an issued chain verifies against a root.

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/subprocess.h"

namespace ambit::test {

// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
uint16_t freeLoopbackPort();

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};
// GET http://127.0.0.1:<port><path>, HTTP/1.1 with Connection: close, bounded by `timeout`.
HttpAnswer httpGet(uint16_t port, const std::string& path,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

// True when the TCP port accepts a connection on 127.0.0.1.
bool tcpPortOpen(uint16_t port);

class ControlProcess {
 public:
  // The name the serving certificate carries and clients dial (TLS name override).
  static constexpr const char* kServerName = "ambit-control.ambit-system.svc";

  ControlProcess() = default;
  ~ControlProcess() { stop(); }

  // Starts build/bin/ambit-control with `kubeconfig` on free loopback ports; its log goes to
  // `log_file`. Does not wait for it to serve.
  Status start(const std::string& kubeconfig, const std::string& log_file,
               const std::string& instance);
  // Waits (bounded) until /ready answers 200.
  bool waitReady(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // SIGTERM (then SIGKILL), reaped; idempotent.
  void stop() { process_.stop(std::chrono::seconds(5)); }
  // SIGTERM and its exit status (-1 when it is still running after 15 s, then killed).
  int terminate();
  // SIGKILL, reaped: the replica vanishes without a goodbye.
  void kill() { process_.kill(); }
  bool running() { return process_.running(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  uint16_t monitoringPort() const { return monitoring_port_; }
  HttpAnswer get(const std::string& path) const { return httpGet(monitoring_port_, path); }
  // The last lines of its log, for failure messages.
  std::string logTail(size_t lines = 40) const;

 private:
  Subprocess process_;
  std::string log_file_;
  uint16_t port_ = 0;
  uint16_t monitoring_port_ = 0;
};

// Ok when `chain_pem` (leaf first) verifies against `root_pem`; otherwise OpenSSL's reason.
Status verifyChain(const std::vector<std::string>& chain_pem, const std::string& root_pem);

}  // namespace ambit::test
