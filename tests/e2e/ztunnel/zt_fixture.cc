#include "tests/e2e/ztunnel/zt_fixture.h"

#include <cstdlib>

#include "tests/support/requirements.h"

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
  if (!test::runningAsRoot()) return;  // SetUp skips every test loudly
  lab_ = std::make_unique<Lab>(name);
  lab_->down();                   // a lab left over by a killed run
  lab_->up({"--no-supervisor"});  // lifecycle tests replace the lab's ztunnels
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
  // Lab::up waited for every node's ztunnel to be ready; now wait for the mesh to serve.
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
  AMBIT_REQUIRE(test::missingRoot("end-to-end tests run a lab: network namespaces, cgroups, BPF"));
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
  return lab_->adminConfigDump(node, admin_port);
}

bool SharedLabTest::ready(const std::string& node, int port) {
  return lab_->inNode(node, {"curl", "-sf", "-m", "1",
                             "http://127.0.0.1:" + std::to_string(port) + "/healthz/ready"})
             .exit_code == 0;
}

bool OwnedZtunnel::start(Lab& lab, const std::vector<std::string>& argv, const std::string& n,
                         int port_base, const std::vector<std::string>& extra) {
  node = n;
  admin_port = port_base;
  metrics_port = port_base + 20;
  readiness_port = port_base + 21;
  if (argv.empty()) return false;
  std::vector<std::string> full = argv;
  for (const auto& [flag, port] :
       {std::pair{"--admin-port", admin_port}, std::pair{"--metrics-port", metrics_port},
        std::pair{"--readiness-port", readiness_port}}) {
    full.push_back(flag);
    full.push_back(std::to_string(port));
  }
  full.insert(full.end(), extra.begin(), extra.end());
  log_file = lab.runDir() + "/logs/" + node + "-ztunnel-test-" + std::to_string(port_base) + ".log";
  // Into the node netns by setns, not `ip netns exec`: that one remounts /sys, hiding the
  // agent's bpffs pins.
  Status started = process.start({.argv = full,
                                  .netns = "/run/netns/" + lab.name() + "-" + node,
                                  .log_file = log_file,
                                  .own_process_group = true});
  if (!started) ADD_FAILURE() << "starting a ztunnel on " << node << ": " << started.message();
  return started.isOk();
}

test::PemFiles labLeaf(Lab& lab, const test::TempDir& dir, const std::string& name,
                       const std::string& uri, test::TestPki::Validity validity) {
  const std::string ca = lab.runDir() + "/ca/";
  test::TestPki lab_ca = test::TestPki::load(ca + "ca-cert.pem", ca + "ca-key.pem");
  return test::writePemFiles(lab_ca.issue(uri, validity), dir.path(), name);
}

}  // namespace ambit::e2e::zt
