#pragma once
// The fixture of the capture end-to-end tests (issue 3): one real lab for the whole suite
// (client + my-app-v1 on node1, my-app-v2 on node2, service my-app 10.96.0.10 /
// fd00:10:96::10 :80 -> 8080), helpers to send traffic from pods and the node, to read the
// daemons' metrics and logs, to edit the lab's config, and to replace node1's agent by one
// the test owns (kill -9 + restart). Every test restores the config it changed in TearDown
// and waits until the mesh path works again, so tests do not depend on each other's order.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/lab.h"
#include "tests/support/prometheus.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace ambit::e2e {

// The test library (tests/support) by the names the capture suites use.
using test::binary;
using test::CommandOutput;
using test::eventually;
using test::Lab;
using test::metricSum;
using test::metricValue;
using test::run;
using test::sh;

// One HTTP GET made with curl: what the client saw and what the sample app echoed.
//
// Which path a connection took: the destination ztunnel connects to the app from the client's
// own IP (source preserved), so the app's peer IP is the client's whether or not the mesh was in
// between. Its peer port tells them apart: a direct connection is curl's own socket (same port);
// a ztunnel opens a new connection to the app from another port.
struct HttpResult {
  int exit_code = -1;     // curl's
  int status = 0;         // HTTP status, 0 when nothing answered
  std::string remote_ip;  // as curl's getpeername() saw it
  int remote_port = 0;
  // curl's own socket (getsockname), IPv6 without brackets: on loopback (127.0.0.1:15001's
  // side) when capture redirected the connect().
  std::string local_ip;
  int local_port = 0;
  nlohmann::json body;  // the sample app's echo (pod, peer, ...), null if not JSON
  std::string raw;      // full curl output, for failure messages

  bool ok() const { return exit_code == 0 && status == 200 && body.is_object(); }
  std::string pod() const { return body.is_object() ? body.value("pod", "") : ""; }
  std::string peer() const { return body.is_object() ? body.value("peer", "") : ""; }
  // The app's peer split as "ip" (IPv6 without brackets) and port; "" / 0 when unparsable.
  std::string peerIp() const;
  int peerPort() const;
  // The app's peer is curl's own socket: nothing relayed the connection.
  bool direct() const;
  // The app answered a connection that someone else (a ztunnel) opened for curl's.
  bool relayed() const;
};

// Returns `pods_yaml` with `label: "value"` added to pod `pod`'s metadata.labels.
std::string withPodLabel(const std::string& pods_yaml, const std::string& pod,
                         const std::string& label, const std::string& value);

class CaptureLabTest : public testing::Test {
 public:
  static constexpr const char* kLabName = "ambitcap";
  static constexpr const char* kServiceV4 = "10.96.0.10";
  static constexpr const char* kServiceV6 = "fd00:10:96::10";
  static constexpr const char* kPodsFile = "10-pods.yaml";

  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  void TearDown() override;

  static Lab& lab() { return *lab_; }

  // GET `url` with curl from inside `pod` (capture applies) / from a node's netns.
  static HttpResult podGet(const std::string& pod, const std::string& url,
                           const std::vector<std::string>& extra_curl_args = {});
  static HttpResult nodeGet(const std::string& node, const std::string& url);
  static std::string url(const std::string& ip, int port, const std::string& path = "/");

  static std::string podIp(const std::string& pod, bool v6 = false);
  static std::string gatewayIp(const std::string& node);  // the node's pod-network gateway (v4)

  // Metrics/admin text of a node's ztunnel (15020) or agent (15030).
  static std::string ztunnelMetrics(const std::string& node);
  static std::string agentMetrics(const std::string& node);
  // Connections node's ztunnel opened to `workload`'s app as the destination (inbound), over
  // HBONE (mTLS) or steered plaintext (15006).
  static double inboundOpened(const std::string& node, const std::string& workload, bool mtls);
  static nlohmann::json agentConfigDump(const std::string& node);
  // Everything the node's agents logged (the lab's agent and, on node1, the test's own).
  static std::string agentLog(const std::string& node);
  static std::string ztunnelLog(const std::string& node);
  // Config edits undone in TearDown: the pods file with changed labels, extra files.
  void setPodLabel(const std::string& pod, const std::string& label, const std::string& value);
  void setPodLabels(const std::vector<std::string>& pods, const std::string& label,
                    const std::string& value);
  // Writes an extra config file (removed in TearDown); returns the steady_clock time of the
  // rename that published it.
  std::chrono::steady_clock::time_point writeExtraConfig(const std::string& file,
                                                         const std::string& yaml);
  // Writes the pods file (temp + rename; restored in TearDown); returns the time of the rename.
  std::chrono::steady_clock::time_point publishPods(const std::string& yaml);

  // Replaces node1's agent: kill -9 of the running one, then the same argv started by the test
  // in node1's netns (stopped in TearDownTestSuite, before lab down). Returns the new PID.
  static pid_t restartNode1Agent();
  // kill -9 of the test's own node1 agent / a new one with the same argv.
  static void killOwnNode1Agent();
  static pid_t startOwnNode1Agent();
  static bool waitAgentReady(const std::string& node, std::chrono::milliseconds timeout);

  // True when client -> service VIP answers through the mesh (the suite's healthy state).
  static bool meshPathWorks();

  static inline std::unique_ptr<Lab> lab_;
  static inline bool lab_up_ = false;
  static inline std::string config_dir_;
  static inline std::string original_pods_;
  static inline nlohmann::json status_;
  static inline std::string base_config_version_;      // node1 agent's, with the original config
  static inline test::Subprocess own_agent_;           // node1 agent started by the test, if any
  static inline std::string own_agent_log_;            // its stdout+stderr
  static inline std::vector<std::string> agent_argv_;  // node1's agent, as the lab started it

 private:
  bool pods_changed_ = false;
  std::vector<std::string> extra_files_;
};

}  // namespace ambit::e2e
