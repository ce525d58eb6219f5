#include "tests/e2e/capture/capture_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ambit::e2e {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Value of a sample line "<series> <value>" whose series is exactly `series`.
double sampleValue(const std::string& text, const std::string& series, bool prefix_only) {
  std::istringstream in(text);
  std::string line;
  double sum = -1;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(series, 0) != 0) continue;
    char next = line.size() > series.size() ? line[series.size()] : '\0';
    if (prefix_only ? (next != ' ' && next != '{') : next != ' ') continue;
    size_t space = line.rfind(' ');
    double v = std::strtod(line.c_str() + space + 1, nullptr);
    sum = (sum < 0 ? 0 : sum) + v;
    if (!prefix_only) return v;
  }
  return sum;
}

bool processGone(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::vector<std::string> cmdline(pid_t pid) {
  std::string raw = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::string cur;
  for (char c : raw) {
    if (c != '\0') {
      cur += c;
      continue;
    }
    argv.push_back(cur);
    cur.clear();
  }
  return argv;
}

// fork + setns(node netns) + exec, output to `log`; the caller owns the returned PID.
pid_t spawnInNetns(const std::string& netns_path, const std::vector<std::string>& argv,
                   const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(126);
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || in < 0) ::_exit(126);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

void stopOwnProcess(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // 5 s
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace

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

double metricSum(const std::string& text, const std::string& name) {
  return sampleValue(text, name, true);
}

double metricValue(const std::string& text, const std::string& name, const std::string& labels) {
  return sampleValue(text, labels.empty() ? name : name + "{" + labels + "}", false);
}

double metricSumWhere(const std::string& text, const std::string& name,
                      const std::vector<std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    size_t close = line.rfind('}');
    if (close == std::string::npos) continue;
    std::string set = "," + line.substr(name.size() + 1, close - name.size() - 1) + ",";
    bool all = std::all_of(labels.begin(), labels.end(), [&](const std::string& l) {
      return set.find("," + l + ",") != std::string::npos;
    });
    if (all) sum += std::strtod(line.c_str() + close + 1, nullptr);
  }
  return sum;
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
  if (::geteuid() != 0) {
    std::fprintf(stderr, "\n*** capture_e2e_test NOT RUN: end-to-end tests need root ***\n\n");
    return;
  }
  lab_ = std::make_unique<Lab>(kLabName);
  lab_->down();  // a lab left behind by an interrupted run
  lab_->up();
  if (testing::Test::HasFatalFailure()) return;
  status_ = lab_->status();
  config_dir_ = status_.value("config_dir", "");
  original_pods_ = slurp(config_dir_ + "/" + kPodsFile);
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
  if (own_agent_ > 0) {
    stopOwnProcess(own_agent_);
    own_agent_ = -1;
  }
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
  AMBIT_REQUIRE_ROOT();
  ASSERT_TRUE(lab_up_) << "the suite's lab '" << kLabName << "' did not come up";
}

void CaptureLabTest::TearDown() {
  if (!lab_up_) return;
  if (!agent_argv_.empty() && own_agent_ <= 0) {  // a test stopped with node1's agent down
    startOwnNode1Agent();
    EXPECT_TRUE(waitAgentReady("node1", std::chrono::seconds(20)));
  }
  if (pods_changed_) publishPods(original_pods_);
  for (const auto& f : extra_files_) std::filesystem::remove(config_dir_ + "/" + f);
  if (pods_changed_ || !extra_files_.empty()) {
    EXPECT_TRUE(eventually(meshPathWorks, std::chrono::seconds(15)))
        << "the mesh path did not come back after restoring the config";
    // The next test starts from the suite's config, not from one the agent has yet to replace.
    EXPECT_TRUE(eventually(
        [] { return agentConfigDump("node1").value("config_version", "") == base_config_version_; },
        std::chrono::seconds(15)))
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
  return lab_->inNode(node, {"curl", "-sS", "-m", "3", "http://127.0.0.1:15020/metrics"}).out;
}

std::string CaptureLabTest::agentMetrics(const std::string& node) {
  return lab_->inNode(node, {"curl", "-sS", "-m", "3", "http://127.0.0.1:15030/metrics"}).out;
}

double CaptureLabTest::inboundOpened(const std::string& node, const std::string& workload,
                                     bool mtls) {
  return metricSumWhere(
      ztunnelMetrics(node), "istio_tcp_connections_opened_total",
      {"reporter=\"destination\"", "destination_workload=\"" + workload + "\"",
       std::string("connection_security_policy=\"") + (mtls ? "mutual_tls" : "none") + "\""});
}

nlohmann::json CaptureLabTest::agentConfigDump(const std::string& node) {
  auto r = lab_->inNode(node, {"curl", "-sS", "-m", "3", "http://127.0.0.1:15030/config_dump"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

std::string CaptureLabTest::agentLog(const std::string& node) {
  std::string log = lab_->daemonLog(node, "agent");
  if (node == "node1") log += slurp(own_agent_log_);
  return log;
}

std::string CaptureLabTest::ztunnelLog(const std::string& node) {
  return lab_->daemonLog(node, "ztunnel");
}

int CaptureLabTest::labDaemonPid(const std::string& node, const std::string& daemon) {
  nlohmann::json status = lab_->status();
  for (const auto& d : status["daemons"]) {
    if (d["node"] == node && d["name"] == daemon) return d["pid"];
  }
  ADD_FAILURE() << "no daemon " << node << "/" << daemon << " in the lab status: " << status.dump();
  return -1;
}

std::chrono::steady_clock::time_point CaptureLabTest::publishPods(const std::string& yaml) {
  pods_changed_ = true;
  std::string tmp = config_dir_ + "/." + kPodsFile + ".tmp";
  {
    std::ofstream out(tmp);
    out << yaml;
  }
  auto t = std::chrono::steady_clock::now();
  std::filesystem::rename(tmp, config_dir_ + "/" + kPodsFile);
  return t;
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
  std::string tmp = config_dir_ + "/." + file + ".tmp";
  {
    std::ofstream out(tmp);
    out << yaml;
  }
  auto t = std::chrono::steady_clock::now();
  std::filesystem::rename(tmp, config_dir_ + "/" + file);
  return t;
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
  pid_t old = own_agent_ > 0 ? own_agent_ : labDaemonPid("node1", "agent");
  if (old <= 0) return -1;
  if (agent_argv_.empty()) agent_argv_ = cmdline(old);
  if (agent_argv_.empty()) {
    ADD_FAILURE() << "cannot read the argv of agent " << old;
    return -1;
  }
  if (old == own_agent_) {
    killOwnNode1Agent();
  } else {
    ::kill(old, SIGKILL);
    if (!eventually([&] { return processGone(old); }, std::chrono::seconds(5))) {
      ADD_FAILURE() << "agent " << old << " survived kill -9";
      return -1;
    }
  }
  return startOwnNode1Agent();
}

void CaptureLabTest::killOwnNode1Agent() {
  if (own_agent_ <= 0) return;
  ::kill(own_agent_, SIGKILL);
  ::waitpid(own_agent_, nullptr, 0);
  own_agent_ = -1;
}

pid_t CaptureLabTest::startOwnNode1Agent() {
  own_agent_ =
      spawnInNetns("/run/netns/" + std::string(kLabName) + "-node1", agent_argv_, own_agent_log_);
  return own_agent_;
}

bool CaptureLabTest::meshPathWorks() { return podGet("client", url(kServiceV4, 80)).ok(); }

}  // namespace ambit::e2e
