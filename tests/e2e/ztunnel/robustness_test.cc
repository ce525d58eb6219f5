// Bad input on every ztunnel port: garbage and HTTP/1 on 15008, an oversized HTTP/2 header
// block, a TLS handshake left half-open, a connection to 15001 with no captured destination,
// garbage to the metrics, readiness and admin ports. The offending connection is closed
// (within the handshake timeout for the half-open one) and the ztunnel stays ready and keeps
// serving everyone else.
#include <filesystem>

#include "tests/e2e/ztunnel/zt_fixture.h"

namespace ambit::e2e::zt {
namespace {

// ambit-ztunnel's default --handshake-timeout-ms (the lab does not change it).
constexpr double kHandshakeTimeoutS = 10.0;

class BadInputTest : public MeshTest {
 protected:
  void TearDown() override {
    if (!lab_up_) return;
    for (const char* node : {"node1", "node2"}) EXPECT_TRUE(ready(node)) << node << " not ready";
    EXPECT_EQ(curlStatus("client", appUrl("my-app-v2")), 200) << "the mesh stopped serving";
    EXPECT_EQ(curlStatus("client", appUrl("my-app-v1")), 200) << "the mesh stopped serving";
  }
  // tcp_probe.py garbage from `pod`'s netns (not captured) to target.
  nlohmann::json send(const std::string& from_pod, const std::string& target,
                      const std::vector<std::string>& what, double timeout_s = 5) {
    std::vector<std::string> args{"garbage", "--target", target, "--timeout",
                                  std::to_string(timeout_s)};
    args.insert(args.end(), what.begin(), what.end());
    return pyNetns(from_pod, "tcp_probe.py", args, std::chrono::seconds(60));
  }
  nlohmann::json sendFromNode(const std::string& node, const std::string& target,
                              const std::vector<std::string>& what) {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  scriptPath("tcp_probe.py"),
                                  "garbage",
                                  "--target",
                                  target,
                                  "--timeout",
                                  "5"};
    argv.insert(argv.end(), what.begin(), what.end());
    auto r = lab().inNode(node, argv);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j.is_discarded() ? nlohmann::json::object() : j;
  }
  static void expectClosed(const nlohmann::json& r, double within_s) {
    ASSERT_TRUE(r.is_object());
    EXPECT_NE(r.value("ended", "timeout"), "timeout") << "still open: " << r.dump();
    EXPECT_LT(r.value("after", 1e9), within_s) << r.dump();
  }
  std::string hbone() { return ip("my-app-v2") + ":15008"; }
};

TEST_F(BadInputTest, GarbageOn15008IsClosed) {
  auto r = send("client", hbone(),
                {"--hex", "00ff13370badc0de0000000000ffffffff" + std::string(200, 'a')});
  expectClosed(r, 2.0);
}

TEST_F(BadInputTest, Http1On15008IsClosed) {
  auto r = send("client", hbone(), {"--text", "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"});
  expectClosed(r, 2.0);
  EXPECT_EQ(r.value("head", "").find("HTTP/1.1 200"), std::string::npos) << r.dump();
}

TEST_F(BadInputTest, OversizedHeaderBlockOn15008IsRefused) {
  std::string ca = lab().runDir() + "/ca/ca-cert.pem";
  test::TempDir pki_dir("ambitzt-pki");
  auto leaf = labLeaf(lab(), pki_dir, "client", kClientId);
  ASSERT_FALSE(leaf.cert.empty());
  auto r = pyNetns("client", "hbone_client.py",
                   {"--target", hbone(), "--authority", ip("my-app-v2") + ":8080", "--ca", ca,
                    "--cert", leaf.cert, "--key", leaf.key, "--big-header", "100000"});
  ASSERT_TRUE(r.is_object());
  EXPECT_NE(r["result"], "ok") << r.dump();
  EXPECT_NE(r["result"], "timeout") << "the connection was left open: " << r.dump();
  // A normal-sized request on a fresh connection still works.
  auto ok = pyNetns("client", "hbone_client.py",
                    {"--target", hbone(), "--authority", ip("my-app-v2") + ":8080", "--ca", ca,
                     "--cert", leaf.cert, "--key", leaf.key, "--big-header", "2000"});
  EXPECT_EQ(ok["result"], "ok") << ok.dump();
}

TEST_F(BadInputTest, HalfOpenTlsHandshakeIsClosedWithinTheHandshakeTimeout) {
  // A TLS record header announcing a 512-byte ClientHello, then only its first bytes.
  auto r =
      send("client", hbone(), {"--hex", "160301020001000200030300112233"}, kHandshakeTimeoutS + 10);
  ASSERT_TRUE(r.is_object());
  EXPECT_NE(r.value("ended", "timeout"), "timeout") << r.dump();
  double after = r.value("after", 1e9);
  std::printf("half-open handshake closed after %.2f s (timeout %.0f s)\n", after,
              kHandshakeTimeoutS);
  EXPECT_GT(after, kHandshakeTimeoutS - 1) << "closed before the timeout: " << r.dump();
  EXPECT_LT(after, kHandshakeTimeoutS + 2) << r.dump();
}

TEST_F(BadInputTest, OutboundPortWithoutCapturedDestinationIsClosed) {
  auto r = send("client", "127.0.0.1:15001", {"--text", "GET / HTTP/1.1\\r\\n\\r\\n"});
  expectClosed(r, 2.0);
}

TEST_F(BadInputTest, GarbageToMetricsReadinessAndAdminPortsIsClosed) {
  for (const char* target : {"127.0.0.1:15020", "127.0.0.1:15021", "127.0.0.1:15000"}) {
    SCOPED_TRACE(target);
    expectClosed(sendFromNode("node2", target, {"--hex", "00ff0d0a0d0a" + std::string(64, 'f')}),
                 3.0);
    expectClosed(
        sendFromNode("node2", target,
                     {"--text", "GET /" + std::string(100000, 'x') + " HTTP/1.1\\r\\n\\r\\n"}),
        3.0);
  }
  EXPECT_FALSE(metrics("node2").empty());
}

}  // namespace
}  // namespace ambit::e2e::zt
