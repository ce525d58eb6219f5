// Ztunnel lifecycle in a lab of its own: an upgrade (a second ztunnel for node2 starts, the
// first gets SIGTERM) under a loop of 2,000 new connections with none refused; certificates
// rotating every ~10 s (TTL 20 s) under continuous traffic with no failed connection; and a
// drain that lets an open tunnel finish before the process exits.
//
// The replacement ztunnels are owned by the test (the lab's `down` only stops the PIDs it
// recorded) and run with --cert-ttl 20 on ports 15100 (node2) / 15200 (node1) + 20/21.
#include <signal.h>

#include <future>
#include <thread>

#include "tests/e2e/ztunnel/zt_fixture.h"

namespace ambit::e2e::zt {
namespace {

constexpr int kShortTtl = 20;
constexpr int kHandshakeTimeoutMs = 1500;

class LifecycleTest : public SharedLabTest {
 protected:
  static void SetUpTestSuite() {
    upLab("ambitzl");
    // Kept from the start: the lab's ztunnels are replaced during the suite.
    if (lab_up_) {
      for (const char* node : {"node1", "node2"}) argv_[node] = lab().daemonArgv(node, "ztunnel");
    }
  }
  static void TearDownTestSuite() {
    for (auto& z : replacements_) z.second->process.stop();
    replacements_.clear();
    downLab();
  }
  static int portBase(const std::string& node) { return node == "node2" ? 15100 : 15200; }

  // Starts the test's ztunnel for `node` (TTL 20 s) and waits until it is ready.
  static OwnedZtunnel* startReplacement(const std::string& node) {
    auto& z = replacements_[node];
    if (z && z->process.running()) return z.get();
    z = std::make_unique<OwnedZtunnel>();
    EXPECT_TRUE(z->start(lab(), argv_[node], node, portBase(node),
                         {"--cert-ttl", std::to_string(kShortTtl), "--drain-ms", "5000",
                          "--handshake-timeout-ms", std::to_string(kHandshakeTimeoutMs)}));
    bool up = eventually([&] { return ready(node, z->readiness_port); }, std::chrono::seconds(30));
    EXPECT_TRUE(up) << "replacement ztunnel on " << node << " never became ready:\n"
                    << sh("tail -n 30 " + z->log_file).out;
    return up ? z.get() : nullptr;
  }
  // SIGTERM to the lab's ztunnel of `node`; true once it has exited.
  static bool stopLabZtunnel(const std::string& node) {
    int pid = lab().daemonPid(node, "ztunnel");
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0) return true;  // already gone
    ::kill(pid, SIGTERM);
    return eventually([&] { return test::processGone(pid); }, std::chrono::seconds(15));
  }
  // Both nodes served by the test's TTL-20 ztunnels only.
  static void replaceBoth() {
    for (const char* node : {"node2", "node1"}) {
      if (replacements_.count(node) && replacements_[node]->process.running()) continue;
      ASSERT_NE(startReplacement(node), nullptr);
      ASSERT_TRUE(stopLabZtunnel(node)) << "the lab's ztunnel on " << node << " did not exit";
    }
  }
  static size_t certificates(const std::string& node) {
    auto d = configDump(node, replacements_[node]->admin_port);
    return d.is_object() && d["certificates"].is_array() ? d["certificates"].size() : 0;
  }
  static uint64_t rotations(const std::string& node) {
    auto d = configDump(node, replacements_[node]->admin_port);
    return d.is_object() ? d.value("certificate_rotations", uint64_t{0}) : 0;
  }

  static std::map<std::string, std::unique_ptr<OwnedZtunnel>> replacements_;
  static std::map<std::string, std::vector<std::string>> argv_;
};

std::map<std::string, std::unique_ptr<OwnedZtunnel>> LifecycleTest::replacements_;
std::map<std::string, std::vector<std::string>> LifecycleTest::argv_;

TEST_F(LifecycleTest, UpgradeUnder2000NewConnectionsRefusesNone) {
  ASSERT_EQ(curlStatus("client", appUrl("my-app-v2")), 200);
  OwnedZtunnel* next = startReplacement("node2");
  ASSERT_NE(next, nullptr);
  auto loop = std::async(std::launch::async, [&] {
    return pyJson("client", "tcp_probe.py",
                  {"loop", "--target", ip("my-app-v2") + ":8080", "--count", "2000"},
                  std::chrono::seconds(300));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_NE(loop.wait_for(std::chrono::seconds(0)), std::future_status::ready)
      << "the loop ended before the upgrade: " << loop.get().dump();
  ASSERT_TRUE(stopLabZtunnel("node2")) << "the old ztunnel did not exit";
  ASSERT_EQ(loop.wait_for(std::chrono::seconds(280)), std::future_status::ready);
  auto r = loop.get();
  ASSERT_TRUE(r.is_object());
  std::printf("upgrade: %d connections, %d ok, %d failed in %.1f s\n", r.value("attempts", 0),
              r.value("ok", 0), r.value("failed", 0), r.value("seconds", 0.0));
  EXPECT_EQ(r.value("attempts", 0), 2000) << r.dump();
  EXPECT_EQ(r.value("failed", -1), 0)
      << r.dump() << "\nnode1 ztunnel warnings:\n"
      << sh("grep -E 'warn|error' " + lab().runDir() + "/logs/node1-ztunnel.log | tail -n 20").out
      << "\nold node2 ztunnel warnings:\n"
      << sh("grep -E 'warn|error|drain' " + lab().runDir() + "/logs/node2-ztunnel.log | tail -n 20")
             .out;
  EXPECT_EQ(r.value("ok", 0), 2000) << r.dump();
  EXPECT_TRUE(next->process.running());
  EXPECT_TRUE(ready("node2", next->readiness_port));
  EXPECT_GT(metricSum(metrics("node2", next->metrics_port), "istio_tcp_connections_opened_total",
                      {{"reporter", "destination"}, {"destination_workload", "my-app-v2"}}),
            0)
      << "the new ztunnel never took over";
  EXPECT_EQ(curlStatus("client", appUrl("my-app-v2")), 200);
}

TEST_F(LifecycleTest, CertificatesRotateUnderContinuousTrafficWithNoFailure) {
  replaceBoth();
  if (HasFatalFailure()) return;
  uint64_t r1 = rotations("node1"), r2 = rotations("node2");
  // Over 1.5 lifetimes (refresh at half of each 20 s lifetime): >= 2 rotations per identity.
  auto r = pyJson("client", "tcp_probe.py",
                  {"loop", "--target", ip("my-app-v2") + ":8080", "--count", "100000", "--duration",
                   "32", "--interval", "20"},
                  std::chrono::seconds(90));
  ASSERT_TRUE(r.is_object());
  uint64_t d1 = rotations("node1") - r1, d2 = rotations("node2") - r2;
  std::printf("rotation: %d requests, %d failed; rotations node1 +%lu, node2 +%lu\n",
              r.value("attempts", 0), r.value("failed", -1), static_cast<unsigned long>(d1),
              static_cast<unsigned long>(d2));
  EXPECT_GT(r.value("ok", 0), 100) << r.dump();
  EXPECT_EQ(r.value("failed", -1), 0) << r.dump();
  // Every identity (node1: client and my-app; node2: my-app) rotates at least twice, and
  // not in a loop (at most one rotation per ~8 s per identity).
  size_t n1 = certificates("node1"), n2 = certificates("node2");
  EXPECT_EQ(n1, 2u);
  EXPECT_EQ(n2, 1u);
  EXPECT_GE(d1, 2 * n1) << "client-side ztunnel did not rotate";
  EXPECT_GE(d2, 2 * n2) << "server-side ztunnel did not rotate";
  EXPECT_LE(d1, 5 * n1) << "client-side ztunnel rotates far too often";
  EXPECT_LE(d2, 5 * n2) << "server-side ztunnel rotates far too often";
  auto dump = configDump("node2", replacements_["node2"]->admin_port);
  ASSERT_TRUE(dump.is_object());
  for (const auto& c : dump["certificates"]) EXPECT_EQ(c["state"], "Available") << c.dump();
}

TEST_F(LifecycleTest, HalfOpenHandshakeIsClosedAfterTheConfiguredTimeout) {
  ASSERT_NE(startReplacement("node2"), nullptr);
  ASSERT_TRUE(stopLabZtunnel("node2"));
  // A TLS record header announcing a 512-byte ClientHello, then only its first bytes.
  auto r = pyNetns("client", "tcp_probe.py",
                   {"garbage", "--target", ip("my-app-v2") + ":15008", "--hex",
                    "160301020001000200030300112233", "--timeout", "10"});
  ASSERT_TRUE(r.is_object());
  EXPECT_NE(r.value("ended", "timeout"), "timeout") << r.dump();
  double after = r.value("after", 1e9), limit = kHandshakeTimeoutMs / 1000.0;
  std::printf("half-open handshake closed after %.2f s (--handshake-timeout-ms %d)\n", after,
              kHandshakeTimeoutMs);
  EXPECT_GT(after, limit - 0.5) << r.dump();
  EXPECT_LT(after, limit + 1.0) << r.dump();
  EXPECT_TRUE(ready("node2", replacements_["node2"]->readiness_port));
  EXPECT_EQ(curlStatus("client", appUrl("my-app-v2")), 200);
}

TEST_F(LifecycleTest, DrainLetsAnOpenTunnelFinishThenExits) {
  OwnedZtunnel* z = startReplacement("node2");
  ASSERT_NE(z, nullptr);
  ASSERT_TRUE(stopLabZtunnel("node2"));
  auto held = std::async(std::launch::async, [&] {
    return pyJson(
        "client", "tcp_probe.py",
        {"hold", "--target", ip("my-app-v2") + ":8080", "--path", "/delay/2000", "--timeout", "15"},
        std::chrono::seconds(30));
  });
  ASSERT_TRUE(eventually([&] {
    auto d = configDump("node2", z->admin_port);
    return d.is_object() && d.value("tracked_connections", 0) >= 1;
  })) << "the tunnel never reached node2's ztunnel";
  auto term_at = std::chrono::steady_clock::now();
  z->process.signal(SIGTERM);
  auto exit = z->process.waitExit(std::chrono::seconds(10));
  double exited_after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - term_at).count();
  ASSERT_TRUE(exit.has_value()) << "still running 10 s after SIGTERM (--drain-ms 5000)";
  EXPECT_EQ(*exit, 0);
  std::printf("drain: exited %.2f s after SIGTERM\n", exited_after);
  EXPECT_LT(exited_after, 7.0);
  auto r = held.get();
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["ended"], "response") << "the open tunnel was cut by the drain: " << r.dump();
}

}  // namespace
}  // namespace ambit::e2e::zt
