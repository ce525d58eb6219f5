#pragma once
// The fixture of k8s_node_e2e_test (issue 11): a real kube-apiserver (tests/k8s/cluster), the
// Istio and Gateway API CRDs, and a two-node lab in Kubernetes mode (`ambitctl lab up
// --kubernetes --waypoint --control-replicas 2`: the lab plays the kubelet; two ambit-control
// replicas, one ambit-agent --kubernetes + ambit-ztunnel per node, and the waypoint pod the lab
// runs from the Deployment ambit-control made for Gateway default/waypoint).
// Everything a test changes goes through the API server with kubectl, as a user would.
// Tests that stop lab daemons start them again themselves (same argv and environment as the
// lab's, read from /proc before they are stopped); the fixture stops those before `down`.
// Pods: client and my-app-v1 on node1, my-app-v2 on node2, in namespace default (ambient);
// waypoint on node1 (not captured). No Service is bound to the waypoint until a test does it.
// ambit-control and the agents use tokens of the chart's service accounts with the chart's RBAC.
//
// Needs root and the Kubernetes test binaries (skipped loudly otherwise); run under
// `flock /tmp/ambit-e2e.lock`. The lab and the cluster are removed also after a failure.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "tests/k8s/support/k8s_cluster.h"
#include "tests/support/files.h"
#include "tests/support/lab.h"
#include "tests/support/prometheus.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/wait.h"

namespace ambit::test {

// An AuthorizationPolicy denying the client's service account at my-app, named `name`.
inline std::string denyClientPolicy(const std::string& name) {
  return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: " + name +
         R"(
  namespace: default
spec:
  selector:
    matchLabels:
      app: my-app
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/client"]
)";
}

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kLabName = "k8snode";
constexpr const char* kRedirection = "ambient.istio.io/redirection";
const std::string kSource = AMBIT_SOURCE_DIR;
const std::string kService = "http://10.96.0.10/";
const std::string kMyAppV2 = "http://10.244.2.10:8080/";  // on node2

inline double millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

class NodeE2eTest : public KubeClusterTest {
 public:  // the tests of both files share these helpers
  static void SetUpTestSuite() {
    if (auto why = missingRoot("creates network namespaces, cgroups and BPF programs")) {
      missing_ = *why;
      return;
    }
    startCluster("node_e2e");
    if (missing_) return;
    std::string bin_dir = sh("bash " + kSource + "/scripts/setup-k8s.sh --print-bin-dir").out;
    while (!bin_dir.empty() && bin_dir.back() == '\n') bin_dir.pop_back();
    kubectl_ = bin_dir + "/kubectl";
    auto crds = kubectl({"apply", "-f", kSource + "/deploy/manifests/crds.yaml"});
    ASSERT_EQ(crds.exit_code, 0) << crds.out << crds.err;
    // ambit's identities and RBAC exactly as the chart installs them: the daemons run with them.
    const std::string rbac = clusterRoot() + "/../chart-rbac.yaml";
    auto rendered =
        run({bin_dir + "/helm", "template", "ambit", kSource + "/deploy/helm/ambit", "-n",
             "ambit-system", "--show-only", "templates/control/rbac.yaml", "--show-only",
             "templates/control/serviceaccount.yaml", "--show-only", "templates/node/rbac.yaml",
             "--show-only", "templates/node/serviceaccount.yaml"});
    ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
    writeFile(rbac, rendered.out);
    auto ns = kubectl({"create", "namespace", "ambit-system"});
    ASSERT_EQ(ns.exit_code, 0) << ns.out << ns.err;
    auto applied = kubectl({"apply", "-f", rbac});
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    lab_ = std::make_unique<Lab>(kLabName);
    lab_->down();  // a lab a killed run left behind
    lab_->up({"--kubernetes", "--kubeconfig", clusterRoot() + "/kubeconfig", "--waypoint",
              "--control-replicas", "2",
              // The tests stop ambit-control replicas and an agent on purpose.
              "--no-supervisor"});
    lab_ready_ = !HasFatalFailure();
  }

  static void TearDownTestSuite() {
    if (lab_ && ::testing::UnitTest::GetInstance()->Failed()) dumpLogs();
    owned_.clear();  // daemons a test restarted itself: the lab does not know them
    if (lab_) lab_->down();
    lab_.reset();
    stopCluster();
  }

  static void dumpLogs() {
    for (const char* node : {"node1", "node2"}) {
      for (const char* daemon : {"agent", "ztunnel"}) {
        std::cerr << "---- " << node << "-" << daemon << " ----\n"
                  << lab_->daemonLog(node, daemon) << "\n";
      }
    }
    for (const char* control : {"control", "control-1"}) {
      std::cerr << "---- " << control << " ----\n" << lab_->daemonLog("cluster", control) << "\n";
    }
    std::cerr << "---- waypoint ----\n" << lab_->podLog("waypoint") << "\n";
    for (const auto& [name, process] : owned_) {
      std::cerr << "---- " << name << " (restarted by the test) ----\n"
                << readFile(ownedLog(name)) << "\n";
    }
  }

  static CommandOutput kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kubectl_, "--kubeconfig", clusterRoot() + "/kubeconfig"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, 30s);
  }

  void SetUp() override {
    KubeClusterTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(lab_ready_) << "the lab did not come up (see the suite's setup failure)";
  }

  static std::string annotation(const std::string& pod) {
    return kubectl({"get", "pod", pod, "-o",
                    "jsonpath={.metadata.annotations.ambient\\.istio\\.io/redirection}"})
        .out;
  }

  // The body the sample app answered, "" when the request failed.
  static std::string get(const std::string& from_pod, const std::string& url,
                         const std::string& timeout = "2") {
    auto r = lab_->exec(from_pod, {"curl", "-sf", "-m", timeout, url}, 10s);
    return r.exit_code == 0 ? r.out : "";
  }

  static double metric(const std::string& node, int port, const std::string& name,
                       const Labels& match = {}) {
    return metricSum(
        lab_->nodeHttpGet(node, "http://127.0.0.1:" + std::to_string(port) + "/metrics"), name,
        match);
  }

  // Connections node2's ztunnel accepted over mTLS for my-app-v2.
  static double mtlsInboundToV2() {
    return metric("node2", 15020, "istio_tcp_connections_opened_total",
                  {{"connection_security_policy", "mutual_tls"},
                   {"destination_workload", "my-app-v2"},
                   {"reporter", "destination"}});
  }

  // Sends requests to the Service from client (node1) until my-app-v2 (node2) answered one.
  static bool reachV2ThroughService() {
    for (int i = 0; i < 30; ++i) {
      if (get("client", kService).find("\"pod\":\"my-app-v2\"") != std::string::npos) return true;
    }
    return false;
  }

  static void writeFile(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  // A file beside the cluster's state (removed with it).
  static std::string scratchFile(const std::string& name) { return clusterRoot() + "/../" + name; }

  static std::string ownedLog(const std::string& name) {
    std::string file = name;
    for (char& c : file) c = c == '/' ? '-' : c;
    return clusterRoot() + "/../restarted-" + file + ".log";
  }

  static inline std::string kubectl_;
  // Daemons a test started again itself ("cluster/control", "node2/agent"), stopped before `down`.
  static inline std::map<std::string, Subprocess> owned_;
  static inline std::unique_ptr<Lab> lab_;  // set before `up`: down runs even after a failed up
  static inline bool lab_ready_ = false;
};

// Polls `pred` as fast as one request allows; the time it took to hold, or nullopt after 5 s.
inline std::optional<Clock::duration> timeUntil(Clock::time_point start,
                                                const std::function<bool()>& pred) {
  while (Clock::now() - start < 5s) {
    if (pred()) return Clock::now() - start;
  }
  return std::nullopt;
}

// New connections client -> Service, one at a time: how many failed and for how long in total
// (from a failure to the next success).
struct Probe {
  int requests = 0;
  int failures = 0;
  Clock::duration failing{};
};

inline Probe probeService(const std::function<bool()>& done,
                          const std::function<std::string(const std::string&)>& request) {
  Probe p;
  bool failing = false;
  Clock::time_point failing_since{};
  while (!done()) {
    auto sent = Clock::now();
    bool ok = request(kService).find("\"pod\":\"my-app-") != std::string::npos;
    ++p.requests;
    if (!ok) {
      ++p.failures;
      if (!failing) failing_since = sent;
      failing = true;
    } else if (failing) {
      p.failing += Clock::now() - failing_since;
      failing = false;
    }
  }
  if (failing) p.failing += Clock::now() - failing_since;
  return p;
}

// "NAME=value" entries of a running process's environment.
inline std::vector<std::string> processEnviron(int pid) {
  std::vector<std::string> env;
  std::string raw = readFile("/proc/" + std::to_string(pid) + "/environ");
  for (size_t start = 0; start < raw.size();) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    if (end > start) env.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return env;
}

// A lab daemon's argv and environment, read before it is stopped, to start it again the same way.
struct DaemonLaunch {
  int pid = -1;
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

}  // namespace ambit::test
