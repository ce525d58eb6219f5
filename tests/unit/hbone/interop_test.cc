// Interop with a third-party HTTP/2 stack: Debian's /usr/bin/python3 with python3-h2 (the
// pyenv python3 on PATH may lack h2) drives h2_connect_client.py against our server.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>

#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

struct ProcessResult {
  int exit_code = -1;
  std::string output;
};

ProcessResult runCommand(const std::string& command) {
  ProcessResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class HboneInteropTest : public HboneFixture {
 protected:
  void SetUp() override {
    if (runCommand(std::string(kPython) + " -c 'import h2'").exit_code != 0) {
      GTEST_SKIP() << "SKIPPED LOUDLY: " << kPython << " lacks the h2 module (apt install "
                   << "python3-h2); the third-party interop test cannot run";
    }
    char tmpl[] = "/tmp/ambit-hbone-interop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    writeFile(dir_ + "/ca.pem", pki_.caPem());
    writeFile(dir_ + "/client.pem", client_cert_.cert_pem);
    writeFile(dir_ + "/client.key", client_cert_.key_pem);
    startServer();
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs the python client while this thread keeps serving on the io_context.
  ProcessResult runClient(const std::string& extra_args) {
    std::string cmd = std::string(kPython) + " " + AMBIT_SOURCE_DIR +
                      "/tests/unit/hbone/h2_connect_client.py --server 127.0.0.1:" +
                      std::to_string(server_address_.port()) + " --ca " + dir_ + "/ca.pem --cert " +
                      dir_ + "/client.pem --key " + dir_ + "/client.key " + extra_args;
    auto fut = std::async(std::launch::async, runCommand, cmd);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (fut.wait_for(0ms) != std::future_status::ready &&
           std::chrono::steady_clock::now() < deadline) {
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(20ms);
    }
    return fut.get();
  }

  std::string dir_;
};

TEST_F(HboneInteropTest, PythonH2ClientTunnelsThroughConnect) {
  auto r =
      runClient("--authority 127.0.0.1:" + std::to_string(echo_port_) + " --payload-size 3000000");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK status=200 bytes=3000000"), std::string::npos) << r.output;
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].peer_identity, kClientId);
  ASSERT_NE(findHeader(requests_[0].headers, "forwarded"), nullptr);
  EXPECT_EQ(*findHeader(requests_[0].headers, "forwarded"), "for=\"10.9.8.7\"");
}

TEST_F(HboneInteropTest, PythonH2NonConnectGets405) {
  auto r = runClient("--method GET --authority 127.0.0.1:" + std::to_string(echo_port_) +
                     " --expect-status 405");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HboneInteropTest, PythonH2BadAuthorityGets400) {
  auto r = runClient("--authority example.com:80 --expect-status 400");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(requests_.empty());
}

}  // namespace
}  // namespace ambit::hbone::testing
