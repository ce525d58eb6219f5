// Interop with a third-party HTTP/2 stack: Debian's /usr/bin/python3 with python3-h2 (the
// pyenv python3 on PATH may lack h2) drives h2_connect_client.py against our server.
#include "tests/support/files.h"
#include "tests/support/peer.h"
#include "tests/support/requirements.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/hbone/hbone_fixture.h"

namespace ambit::hbone::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

class HboneInteropTest : public HboneFixture {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(test::missingPythonModule("h2", "python3-h2"))
        << "; the third-party interop test cannot run";
    test::writeFile(dir_.file("ca.pem"), pki_.caPem());
    test::writeFile(dir_.file("client.pem"), client_cert_.cert_pem);
    test::writeFile(dir_.file("client.key"), client_cert_.key_pem);
    startServer();
  }

  // Runs the python client while this thread keeps serving on the io_context.
  test::CommandOutput runClient(const std::string& extra_args) {
    std::string cmd = std::string(kPython) + " " + AMBIT_SOURCE_DIR +
                      "/tests/unit/hbone/h2_connect_client.py --server 127.0.0.1:" +
                      std::to_string(server_address_.port()) + " --ca " + dir_.file("ca.pem") +
                      " --cert " + dir_.file("client.pem") + " --key " + dir_.file("client.key") +
                      " " + extra_args;
    return test::runPeer(ioc_, cmd, 60s);
  }

  test::TempDir dir_{"ambit-hbone-interop"};
};

// python-h2 keeps the default SETTINGS_MAX_FRAME_SIZE (16 KiB) and fails on any larger frame
// (FrameTooLargeError): the 3 MB echo also proves our 64 KiB DATA frames go only to peers that
// allow them.
TEST_F(HboneInteropTest, PythonH2ClientTunnelsThroughConnect) {
  auto r =
      runClient("--authority 127.0.0.1:" + std::to_string(echo_port_) + " --payload-size 3000000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("OK status=200 bytes=3000000"), std::string::npos) << r.out;
  // Python's OpenSSL lists TLS_AES_256_GCM_SHA384 first; the server's preference decides.
  EXPECT_NE(r.out.find("cipher=TLS_AES_128_GCM_SHA256"), std::string::npos) << r.out;
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].peer_identity, kClientId);
  ASSERT_NE(findHeader(requests_[0].headers, "forwarded"), nullptr);
  EXPECT_EQ(*findHeader(requests_[0].headers, "forwarded"), "for=\"10.9.8.7\"");
}

TEST_F(HboneInteropTest, PythonH2NonConnectGets405) {
  auto r = runClient("--method GET --authority 127.0.0.1:" + std::to_string(echo_port_) +
                     " --expect-status 405");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HboneInteropTest, PythonH2BadAuthorityGets400) {
  auto r = runClient("--authority example.com:80 --expect-status 400");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(requests_.empty());
}

}  // namespace
}  // namespace ambit::hbone::testing
