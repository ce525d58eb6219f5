// L4 policy in the destination ztunnel: AuthorizationPolicy ALLOW/DENY (principals, ports,
// notPorts, ipBlocks, notIpBlocks), PeerAuthentication STRICT against plaintext on 15006, and a
// live policy update closing an open connection it now denies.
#include <future>
#include <map>

#include "tests/e2e/ztunnel/zt_fixture.h"

namespace ambit::e2e::zt {
namespace {

const std::string kPolicyFile = "90-ztunnel-e2e-policy.yaml";

class PolicyTest : public MeshTest {
 protected:
  void TearDown() override {
    if (!lab_up_) return;
    lab().removeConfig(kPolicyFile);
    // Back to "no policy": both callers reach my-app-v2 again before the next test.
    EXPECT_TRUE(eventually([&] { return allowed("client") && allowed("my-app-v1"); },
                           std::chrono::seconds(10)));
  }
  // Applies the policy, waits until every node's ztunnel reports a config version other than
  // the one it had before the write (it loaded the new file; a rejected file keeps the old
  // version and fails here), then until `settled` holds.
  void apply(const std::string& yaml, const std::function<bool()>& settled) {
    std::map<std::string, std::string> before;
    for (const char* node : {"node1", "node2"}) before[node] = configVersion(node);
    lab().writeConfig(kPolicyFile, yaml);
    for (const auto& entry : before) {
      const std::string& node = entry.first;
      const std::string& version = entry.second;
      ASSERT_TRUE(eventually([&] {
        std::string now = configVersion(node);
        return !now.empty() && now != version;
      })) << node
          << "'s ztunnel did not load the policy (config version still " << version << "):\n"
          << yaml << "\n"
          << lab().daemonLog(node, "ztunnel");
    }
    ASSERT_TRUE(eventually(settled, std::chrono::seconds(10))) << "policy never took effect:\n"
                                                               << yaml;
  }
  static std::string configVersion(const std::string& node) {
    auto dump = configDump(node);
    return dump.is_object() ? dump.value("config_version", "") : "";
  }
  static bool allowed(const std::string& from, const std::string& to = "my-app-v2") {
    return curlStatus(from, appUrl(to), 3) == 200;
  }
  static std::string policy(const std::string& action, const std::string& rules) {
    return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
           "  name: e2e\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n"
           "      app: my-app\n      version: v2\n  action: " +
           action + "\n  rules:\n" + rules;
  }
};

TEST_F(PolicyTest, AllowOnlyTheClientPrincipal) {
  ASSERT_TRUE(allowed("my-app-v1")) << "precondition: no policy yet";
  apply(policy("ALLOW",
               "  - from:\n    - source:\n        principals: "
               "[\"cluster.local/ns/default/sa/client\"]\n"),
        [] { return !allowed("my-app-v1"); });
  EXPECT_TRUE(allowed("client"));
  EXPECT_FALSE(allowed("my-app-v1")) << "a third principal (sa my-app) got through";
  EXPECT_TRUE(allowed("client", "my-app-v1")) << "the policy selects v2 only";
}

TEST_F(PolicyTest, DenyOnAPort) {
  apply(policy("DENY", "  - to:\n    - operation:\n        ports: [\"9090\"]\n"),
        [] { return true; });
  EXPECT_TRUE(allowed("client")) << "a DENY on 9090 refused 8080";
  apply(policy("DENY", "  - to:\n    - operation:\n        ports: [\"8080\"]\n"),
        [] { return !allowed("client"); });
  EXPECT_FALSE(allowed("my-app-v1"));
}

TEST_F(PolicyTest, DenyWithNotPorts) {
  apply(policy("DENY", "  - to:\n    - operation:\n        notPorts: [\"8080\"]\n"),
        [] { return true; });
  EXPECT_TRUE(allowed("client")) << "notPorts [8080] must not match 8080";
  apply(policy("DENY", "  - to:\n    - operation:\n        notPorts: [\"9090\"]\n"),
        [] { return !allowed("client"); });
}

TEST_F(PolicyTest, DenyByIpBlocksAndNotIpBlocks) {
  std::string client_cidr = ip("client") + "/32";
  apply(policy("DENY", "  - from:\n    - source:\n        ipBlocks: [\"" + client_cidr + "\"]\n"),
        [] { return !allowed("client"); });
  EXPECT_TRUE(allowed("my-app-v1")) << "ipBlocks matched a source outside the block";
  apply(
      policy("DENY", "  - from:\n    - source:\n        notIpBlocks: [\"" + client_cidr + "\"]\n"),
      [] { return !allowed("my-app-v1"); });
  EXPECT_TRUE(allowed("client")) << "notIpBlocks matched the excluded source";
}

TEST_F(PolicyTest, StrictPeerAuthenticationRefusesPlaintextOn15006) {
  // node1's netns is outside the mesh: its connection to my-app-v2 arrives as plaintext and
  // sk_lookup steers it to the ztunnel's 15006 for that pod.
  auto plaintext = [&] {
    return lab()
               .inNode("node1", {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3",
                                 appUrl("my-app-v2")})
               .out == "200";
  };
  double before = metricSum(metrics("node2"), "istio_tcp_connections_opened_total",
                            {{"reporter", "destination"}, {"connection_security_policy", "none"}});
  ASSERT_TRUE(plaintext()) << "precondition: PERMISSIVE accepts plaintext";
  EXPECT_GT(metricSum(metrics("node2"), "istio_tcp_connections_opened_total",
                      {{"reporter", "destination"}, {"connection_security_policy", "none"}}),
            before)
      << "the plaintext connection did not go through the ztunnel's 15006";
  apply(
      "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: strict\n"
      "  namespace: default\nspec:\n  mtls:\n    mode: STRICT\n",
      [&] { return !plaintext(); });
  EXPECT_TRUE(allowed("client")) << "STRICT must still accept mTLS";
}

TEST_F(PolicyTest, LiveUpdateClosesAnOpenConnectionItNowDenies) {
  // A request the app answers only after 5 s keeps the tunnel open.
  auto held = std::async(std::launch::async, [&] {
    return pyJson(
        "client", "tcp_probe.py",
        {"hold", "--target", ip("my-app-v2") + ":8080", "--path", "/delay/5000", "--timeout", "15"},
        std::chrono::seconds(30));
  });
  ASSERT_TRUE(eventually([&] {
    auto d = configDump("node2");
    return d.is_object() && d.value("tracked_connections", 0) >= 1;
  })) << "the held connection never reached the destination ztunnel";
  auto applied_at = std::chrono::system_clock::now();
  lab().writeConfig(kPolicyFile, policy("DENY",
                                        "  - from:\n    - source:\n        principals: "
                                        "[\"cluster.local/ns/default/sa/client\"]\n"));
  ASSERT_EQ(held.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto r = held.get();
  ASSERT_TRUE(r.is_object());
  EXPECT_NE(r["ended"], "response") << "the denied connection ran to completion: " << r.dump();
  double applied = std::chrono::duration<double>(applied_at.time_since_epoch()).count();
  double closed_after = r.value("ended_at", 0.0) - applied;
  std::printf("live DENY closed the open connection %.3f s after the config write\n", closed_after);
  EXPECT_LT(closed_after, 1.5) << r.dump();
  EXPECT_FALSE(allowed("client")) << "new connections must be refused too";
}

}  // namespace
}  // namespace ambit::e2e::zt
