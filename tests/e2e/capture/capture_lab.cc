#include "tests/e2e/capture/capture_lab.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "tests/support/files.h"
#include "tests/support/requirements.h"

namespace ambit::e2e {

std::string HttpResult::peerIp() const {
  std::string p = peer();
  size_t colon = p.rfind(':');
  if (colon == std::string::npos || colon == 0) return "";
  if (p[0] == '[') return p[colon - 1] == ']' ? p.substr(1, colon - 2) : "";
  return p.substr(0, colon);
}

int HttpResult::peerPort() const {
  std::string p = peer();
  size_t colon = p.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(p.c_str() + colon + 1);
}

bool HttpResult::direct() const {
  return ok() && local_port != 0 && peerIp() == local_ip && peerPort() == local_port;
}

bool HttpResult::relayed() const {
  return ok() && local_port != 0 && peerPort() != 0 && peerPort() != local_port;
}

std::string withPodLabel(const std::string& pods_yaml, const std::string& pod,
                         const std::string& label, const std::string& value) {
  size_t at = pods_yaml.find("kind: Pod\nmetadata:\n  name: " + pod + "\n");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no pod " << pod << " in the pods file:\n" << pods_yaml;
    return pods_yaml;
  }
  size_t labels = pods_yaml.find("\n  labels:\n", at);
  size_t next_doc = pods_yaml.find("\n---", at);
  if (labels == std::string::npos || (next_doc != std::string::npos && labels > next_doc)) {
    ADD_FAILURE() << "pod " << pod << " has no block labels map:\n" << pods_yaml;
    return pods_yaml;
  }
  std::string out = pods_yaml;
  out.insert(labels + std::string("\n  labels:\n").size(),
             "    " + label + ": \"" + value + "\"\n");
  return out;
}

void CaptureLabTest::SetUpTestSuite() {
  if (!test::runningAsRoot()) return;  // SetUp skips every test loudly
  lab_ = std::make_unique<Lab>(kLabName);
  lab_->down();                   // a lab left behind by an interrupted run
  lab_->up({"--no-supervisor"});  // tests replace node1's agent with their own
  if (testing::Test::HasFatalFailure()) return;
  status_ = lab_->status();
  config_dir_ = status_.value("config_dir", "");
  original_pods_ = test::readFile(config_dir_ + "/" + kPodsFile);
  own_agent_log_ = std::string(testing::TempDir()) + "/" + kLabName + "-node1-agent.log";
  std::filesystem::remove(own_agent_log_);
  if (config_dir_.empty() || original_pods_.empty()) {
    ADD_FAILURE() << "lab status has no config dir or pods file: " << status_.dump();
    return;
  }
  // Ready for the tests = the client reaches the service through the mesh.
  lab_up_ = eventually(meshPathWorks, std::chrono::seconds(30));
  base_config_version_ = agentConfigDump("node1").value("config_version", "");
  if (!lab_up_) {
    ADD_FAILURE() << "the mesh never served client -> service after lab up:\n"
                  << lab_->daemonLog("node1", "agent") << lab_->daemonLog("node1", "ztunnel");
  }
}

void CaptureLabTest::TearDownTestSuite() {
  if (!lab_) return;
  own_agent_.stop(std::chrono::seconds(5));
  own_agent_ = test::Subprocess();
  agent_argv_.clear();
  lab_->down();
  // down runs `ambit-agent --cleanup` for every node: nothing pinned may remain, also for
  // node1 whose last agent was the test's own.
  for (const char* node : {"node1", "node2"}) {
    std::string pins = std::string("/sys/fs/bpf/ambit/") + kLabName + "-" + node;
    EXPECT_FALSE(std::filesystem::exists(pins)) << "pinned objects left behind in " << pins;
  }
  lab_.reset();
  lab_up_ = false;
}

void CaptureLabTest::SetUp() {
  AMBIT_REQUIRE(test::missingRoot("end-to-end tests run a lab: network namespaces, cgroups, BPF"));
  ASSERT_TRUE(lab_up_) << "the suite's lab '" << kLabName << "' did not come up";
}

void CaptureLabTest::TearDown() {
  if (!lab_up_) return;
  if (!agent_argv_.empty() && own_agent_.pid() <= 0) {  // a test left node1's agent down
    startOwnNode1Agent();
    EXPECT_TRUE(waitAgentReady("node1", std::chrono::seconds(20)));
  }
  if (pods_changed_) publishPods(original_pods_);
  for (const auto& f : extra_files_) std::filesystem::remove(config_dir_ + "/" + f);
  if (pods_changed_ || !extra_files_.empty()) {
    EXPECT_TRUE(eventually(meshPathWorks, std::chrono::seconds(15)))
        << "the mesh path did not come back after restoring the config";
    // The next test starts from the suite's config, not from one the agent has yet to replace.
    EXPECT_TRUE(
        lab_->waitForConfigVersion("node1", 15030, base_config_version_, std::chrono::seconds(15)))
        << "node1's agent did not come back to the suite's config version " << base_config_version_;
  }
}

std::string CaptureLabTest::url(const std::string& ip, int port, const std::string& path) {
  bool v6 = ip.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port) + path;
}

namespace {

HttpResult parseCurl(const CommandOutput& r) {
  HttpResult h;
  h.exit_code = r.exit_code;
  h.raw = r.out + r.err;
  size_t nl = r.out.rfind('\n');
  std::string tail = nl == std::string::npos ? r.out : r.out.substr(nl + 1);
  std::istringstream in(tail);
  in >> h.status >> h.remote_ip >> h.remote_port >> h.local_ip >> h.local_port;
  if (nl != std::string::npos) h.body = nlohmann::json::parse(r.out.substr(0, nl), nullptr, false);
  if (h.body.is_discarded()) h.body = nullptr;
  return h;
}

std::vector<std::string> curlArgs(const std::string& url, const std::vector<std::string>& extra) {
  std::vector<std::string> a{
      "curl", "-sS", "-m",
      "3",    "-w",  "\n%{http_code} %{remote_ip} %{remote_port} %{local_ip} %{local_port}"};
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back(url);
  return a;
}

}  // namespace

HttpResult CaptureLabTest::podGet(const std::string& pod, const std::string& url,
                                  const std::vector<std::string>& extra_curl_args) {
  return parseCurl(lab_->exec(pod, curlArgs(url, extra_curl_args), std::chrono::seconds(10)));
}

HttpResult CaptureLabTest::nodeGet(const std::string& node, const std::string& url) {
  return parseCurl(lab_->inNode(node, curlArgs(url, {})));
}

std::string CaptureLabTest::podIp(const std::string& pod, bool v6) {
  for (const auto& p : status_["pods"]) {
    if (p["name"] == pod) return p[v6 ? "ipv6" : "ipv4"];
  }
  ADD_FAILURE() << "no pod " << pod;
  return "";
}

std::string CaptureLabTest::gatewayIp(const std::string& node) {
  for (const auto& n : status_["nodes"]) {
    if (n["name"] != node) continue;
    std::string cidr = n["pod_cidr_v4"];  // a.b.c.0/24: the gateway is .1
    return cidr.substr(0, cidr.rfind('.')) + ".1";
  }
  ADD_FAILURE() << "no node " << node;
  return "";
}

std::string CaptureLabTest::ztunnelMetrics(const std::string& node) {
  return lab_->nodeHttpGet(node, "http://127.0.0.1:15020/metrics");
}

std::string CaptureLabTest::agentMetrics(const std::string& node) {
  return lab_->nodeHttpGet(node, "http://127.0.0.1:15030/metrics");
}

double CaptureLabTest::inboundOpened(const std::string& node, const std::string& workload,
                                     bool mtls) {
  return metricSum(ztunnelMetrics(node), "istio_tcp_connections_opened_total",
                   {{"reporter", "destination"},
                    {"destination_workload", workload},
                    {"connection_security_policy", mtls ? "mutual_tls" : "none"}});
}

nlohmann::json CaptureLabTest::agentConfigDump(const std::string& node) {
  return lab_->adminConfigDump(node, 15030);
}

std::string CaptureLabTest::agentLog(const std::string& node) {
  std::string log = lab_->daemonLog(node, "agent");
  if (node == "node1") log += test::readFile(own_agent_log_);
  return log;
}

std::string CaptureLabTest::ztunnelLog(const std::string& node) {
  return lab_->daemonLog(node, "ztunnel");
}

std::chrono::steady_clock::time_point CaptureLabTest::publishPods(const std::string& yaml) {
  pods_changed_ = true;
  return lab_->writeConfig(kPodsFile, yaml);
}

void CaptureLabTest::setPodLabel(const std::string& pod, const std::string& label,
                                 const std::string& value) {
  setPodLabels({pod}, label, value);
}

void CaptureLabTest::setPodLabels(const std::vector<std::string>& pods, const std::string& label,
                                  const std::string& value) {
  std::string yaml = original_pods_;
  for (const auto& p : pods) yaml = withPodLabel(yaml, p, label, value);
  publishPods(yaml);
}

std::chrono::steady_clock::time_point CaptureLabTest::writeExtraConfig(const std::string& file,
                                                                       const std::string& yaml) {
  extra_files_.push_back(file);
  return lab_->writeConfig(file, yaml);
}

bool CaptureLabTest::waitAgentReady(const std::string& node, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        return lab_->inNode(node,
                            {"curl", "-sf", "-m", "1", "http://127.0.0.1:15030/healthz/ready"})
                   .exit_code == 0;
      },
      timeout);
}

pid_t CaptureLabTest::restartNode1Agent() {
  pid_t old = own_agent_.pid() > 0 ? own_agent_.pid() : lab_->daemonPid("node1", "agent");
  if (old <= 0) return -1;
  if (agent_argv_.empty()) agent_argv_ = test::processArgv(old);
  if (agent_argv_.empty()) {
    ADD_FAILURE() << "cannot read the argv of agent " << old;
    return -1;
  }
  if (old == own_agent_.pid()) {
    killOwnNode1Agent();
  } else {
    ::kill(old, SIGKILL);
    if (!eventually([&] { return test::processGone(old); }, std::chrono::seconds(5))) {
      ADD_FAILURE() << "agent " << old << " survived kill -9";
      return -1;
    }
  }
  return startOwnNode1Agent();
}

void CaptureLabTest::killOwnNode1Agent() {
  own_agent_.kill();
  own_agent_ = test::Subprocess();
}

pid_t CaptureLabTest::startOwnNode1Agent() {
  Status started = own_agent_.start({.argv = agent_argv_,
                                     .netns = "/run/netns/" + std::string(kLabName) + "-node1",
                                     .log_file = own_agent_log_});
  if (!started) {
    ADD_FAILURE() << "starting node1's agent: " << started.message();
    return -1;
  }
  return own_agent_.pid();
}

bool CaptureLabTest::meshPathWorks() { return podGet("client", url(kServiceV4, 80)).ok(); }

}  // namespace ambit::e2e
