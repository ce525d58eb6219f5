#include "tests/e2e/ztunnel/zt_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace ambit::e2e::zt {

std::unique_ptr<Lab> SharedLabTest::lab_;
bool SharedLabTest::lab_up_ = false;
std::map<std::string, std::string> SharedLabTest::ips_;
std::map<std::string, std::string> SharedLabTest::netns_;

std::string scriptPath(const std::string& script) {
  return std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/ztunnel/" + script;
}

namespace {
// Downs whichever shared lab is still up when the test program ends (also after failures).
class SharedLabEnvironment : public testing::Environment {
 public:
  void TearDown() override { SharedLabTest::downLab(); }
};
const testing::Environment* const kSharedLabEnvironment =
    testing::AddGlobalTestEnvironment(new SharedLabEnvironment);
}  // namespace

void SharedLabTest::upLab(const std::string& name) {
  if (lab_up_ && lab_ && lab_->name() == name) return;  // shared with the suites before
  downLab();
  ips_.clear();
  if (::geteuid() != 0) return;
  lab_ = std::make_unique<Lab>(name);
  lab_->down();  // a lab left over by a killed run
  lab_->up();
  if (testing::Test::HasFatalFailure()) return;
  auto status = lab_->status();
  for (const auto& p : status["pods"]) {
    std::string pod = p.value("name", "");
    ips_[pod] = p.value("ipv4", "");
    netns_[pod] = p.value("netns", "");
  }
  for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
    ASSERT_TRUE(ips_.count(pod)) << "lab has no pod " << pod << ": " << status.dump();
  }
  // Lab::up's own readiness wait ranges over a member of a temporary (status()["nodes"]) and
  // may see no node at all; wait here for each node's ztunnel, then for the mesh to serve.
  for (const auto& n : status["nodes"]) {
    std::string node = n.value("name", "");
    ASSERT_TRUE(eventually([&] { return ready(node); }, std::chrono::seconds(30)))
        << "ztunnel on " << node << " never became ready";
  }
  int tries = 0;
  ASSERT_TRUE(eventually(
      [&] {
        ++tries;
        return curlStatus("client", appUrl("my-app-v2"), 2) == 200 &&
               curlStatus("client", appUrl("my-app-v1"), 2) == 200;
      },
      std::chrono::seconds(20)))
      << "both ztunnels are ready but the mesh does not serve client -> my-app";
  if (tries > 1)
    std::printf("NOTE: lab %s: ready, but the mesh served only on try %d\n", name.c_str(), tries);
  lab_up_ = true;
}

void SharedLabTest::downLab() {
  if (lab_) lab_->down();
  lab_.reset();
  lab_up_ = false;
}

void SharedLabTest::SetUp() {
  AMBIT_REQUIRE_ROOT();
  ASSERT_TRUE(lab_up_) << "the suite's lab did not come up (see SetUpTestSuite's failure)";
}

std::string SharedLabTest::ip(const std::string& pod) { return ips_.at(pod); }

std::string SharedLabTest::appUrl(const std::string& pod, const std::string& path) {
  return "http://" + ip(pod) + ":" + std::to_string(kAppPort) + path;
}

CommandOutput SharedLabTest::py(const std::string& pod, const std::string& script,
                                const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"/usr/bin/python3", scriptPath(script)};
  argv.insert(argv.end(), args.begin(), args.end());
  return lab_->exec(pod, argv, timeout);
}

CommandOutput SharedLabTest::inPodNetns(const std::string& pod,
                                        const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout) {
  std::vector<std::string> a{"ip", "netns", "exec", netns_.at(pod)};
  a.insert(a.end(), argv.begin(), argv.end());
  return run(a, timeout);
}

namespace {
nlohmann::json parseOne(const std::string& what, const CommandOutput& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    ADD_FAILURE() << what << " exited " << r.exit_code << ":\n" << r.out << r.err;
    return nullptr;
  }
  return j;
}
}  // namespace

nlohmann::json SharedLabTest::pyNetns(const std::string& pod, const std::string& script,
                                      const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"/usr/bin/python3", scriptPath(script)};
  argv.insert(argv.end(), args.begin(), args.end());
  return parseOne(script + " in " + pod + "'s netns", inPodNetns(pod, argv, timeout));
}

nlohmann::json SharedLabTest::pyJson(const std::string& pod, const std::string& script,
                                     const std::vector<std::string>& args,
                                     std::chrono::milliseconds timeout) {
  return parseOne(script + " in " + pod, py(pod, script, args, timeout));
}

int SharedLabTest::curlStatus(const std::string& pod, const std::string& url, int max_seconds) {
  auto r = lab_->exec(pod, {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m",
                            std::to_string(max_seconds), url});
  return std::atoi(r.out.c_str());
}

std::string SharedLabTest::metrics(const std::string& node, int port) {
  return lab_->nodeHttpGet(node, "http://127.0.0.1:" + std::to_string(port) + "/metrics");
}

nlohmann::json SharedLabTest::configDump(const std::string& node, int admin_port) {
  auto j = nlohmann::json::parse(
      lab_->nodeHttpGet(node, "http://127.0.0.1:" + std::to_string(admin_port) + "/config_dump"),
      nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

bool SharedLabTest::ready(const std::string& node, int port) {
  return lab_->inNode(node, {"curl", "-sf", "-m", "1",
                             "http://127.0.0.1:" + std::to_string(port) + "/healthz/ready"})
             .exit_code == 0;
}

double metricSum(const std::string& exposition, const std::string& name,
                 const std::map<std::string, std::string>& match) {
  double sum = 0;
  std::istringstream in(exposition);
  std::string line;
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    size_t after = name.size();
    if (after >= line.size() || (line[after] != '{' && line[after] != ' ')) continue;
    std::map<std::string, std::string> labels;
    size_t value_at = line.find(' ', after);
    if (line[after] == '{') {
      size_t close = line.rfind('}');
      if (close == std::string::npos) continue;
      std::string body = line.substr(after + 1, close - after - 1);
      for (std::sregex_iterator it(body.begin(), body.end(), kLabel), end; it != end; ++it) {
        labels[(*it)[1]] = (*it)[2];
      }
      value_at = line.find(' ', close);
    }
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) all = false;
    }
    if (all && value_at != std::string::npos)
      sum += std::strtod(line.c_str() + value_at + 1, nullptr);
  }
  return sum;
}

bool OwnedProcess::start(const std::vector<std::string>& argv, const std::string& log_file) {
  int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return false;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return false;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(log);
  pid_ = pid;
  status_.reset();
  return true;
}

bool OwnedProcess::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return r == 0;
}

void OwnedProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> OwnedProcess::waitExit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void OwnedProcess::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!waitExit(std::chrono::seconds(8))) {
    ::kill(pid_, SIGKILL);
    (void)waitExit(std::chrono::seconds(5));
  }
}

int SharedLabTest::daemonPid(const std::string& node, const std::string& daemon) {
  auto daemons = lab_->status()["daemons"];
  for (const auto& d : daemons) {
    if (d.value("node", "") == node && d.value("name", "") == daemon) return d.value("pid", -1);
  }
  ADD_FAILURE() << "no daemon " << daemon << " on " << node << " in " << daemons.dump();
  return -1;
}

std::vector<std::string> SharedLabTest::daemonArgv(const std::string& node,
                                                   const std::string& daemon) {
  std::ifstream in("/proc/" + std::to_string(daemonPid(node, daemon)) + "/cmdline");
  std::vector<std::string> argv;
  std::string arg;
  while (std::getline(in, arg, '\0')) argv.push_back(arg);
  return argv;
}

bool OwnedZtunnel::start(Lab& lab, const std::vector<std::string>& argv, const std::string& n,
                         int port_base, const std::vector<std::string>& extra) {
  node = n;
  admin_port = port_base;
  metrics_port = port_base + 20;
  readiness_port = port_base + 21;
  if (argv.empty()) return false;
  // nsenter, not `ip netns exec`: that one remounts /sys, hiding the agent's bpffs pins.
  std::vector<std::string> full{"nsenter", "--net=/run/netns/" + lab.name() + "-" + node};
  full.insert(full.end(), argv.begin(), argv.end());
  for (const auto& [flag, port] :
       {std::pair{"--admin-port", admin_port}, std::pair{"--metrics-port", metrics_port},
        std::pair{"--readiness-port", readiness_port}}) {
    full.push_back(flag);
    full.push_back(std::to_string(port));
  }
  full.insert(full.end(), extra.begin(), extra.end());
  log_file = lab.runDir() + "/logs/" + node + "-ztunnel-test-" + std::to_string(port_base) + ".log";
  return process.start(full, log_file);
}

TestPki::TestPki() {
  char tmpl[] = "/tmp/ambitzt-pki-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  dir_ = d ? d : "";
  if (dir_.empty()) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  std::ofstream(dir_ + "/index.txt").close();
  std::ofstream(dir_ + "/serial.txt") << "1000\n";
  std::ofstream(dir_ + "/ca.cnf")
      << "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
         "new_certs_dir = .\nserial = serial.txt\ndefault_md = sha256\n"
         "policy = p\nunique_subject = no\n[p]\norganizationName = optional\n";
}

TestPki::~TestPki() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

TestPki::Leaf TestPki::issue(const std::string& name, const std::string& uri,
                             const std::string& ca_cert, const std::string& ca_key, bool expired) {
  Leaf l{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
  std::string ext = dir_ + "/" + name + ".ext";
  std::ofstream(ext) << "subjectAltName=URI:" << uri
                     << "\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=clientAuth,serverAuth\n";
  std::string dates = expired ? "-startdate 20200101000000Z -enddate 20200102000000Z" : "-days 1";
  auto r =
      sh("cd " + dir_ + " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
         l.key + " && openssl req -new -key " + l.key + " -subj /O=ambit-test -out " + name +
         ".csr && openssl ca -batch -config ca.cnf -cert " + ca_cert + " -keyfile " + ca_key +
         " -in " + name + ".csr -out " + l.cert + " -notext -extfile " + ext + " " + dates);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "issuing " << name << " failed:\n" << r.out << r.err;
    return {};
  }
  return l;
}

TestPki::Leaf TestPki::foreignCa() {
  Leaf ca{dir_ + "/foreign-ca.pem", dir_ + "/foreign-ca.key"};
  auto r = sh(
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + ca.key +
      " && openssl req -x509 -new -key " + ca.key + " -subj /O=foreign -days 1 -out " + ca.cert +
      " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
  if (r.exit_code != 0) {
    ADD_FAILURE() << "foreign CA failed:\n" << r.out << r.err;
    return {};
  }
  return ca;
}

}  // namespace ambit::e2e::zt
