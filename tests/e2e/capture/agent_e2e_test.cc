// Issue 3, agent cases: kill -9 + restart during 2,000 new connections (none fails), bad input
// (missing netns, a pod IP claimed twice, a garbage config file, bad flags, no cgroup2) named
// precisely while the other pods keep working, and the agent's /metrics.
#include <gmock/gmock.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/e2e/capture/capture_lab.h"
#include "tests/support/observability.h"

namespace ambit::e2e {
namespace {

using testing::HasSubstr;
using namespace std::chrono_literals;

class AgentTest : public CaptureLabTest {
 protected:
  // The other pods keep working: client reaches the service and both app pods through the mesh.
  static void expectOtherPodsWork() {
    HttpResult vip = podGet("client", url(kServiceV4, 80));
    EXPECT_TRUE(vip.ok()) << vip.raw;
    for (const char* pod : {"my-app-v1", "my-app-v2"}) {
      HttpResult r = podGet("client", url(podIp(pod), 8080));
      EXPECT_TRUE(r.ok()) << pod << ": " << r.raw;
      EXPECT_EQ(r.pod(), pod);
      EXPECT_TRUE(r.relayed()) << pod << " not reached via the mesh: " << r.peer();
      EXPECT_EQ(r.peerIp(), podIp("client")) << pod << ": the client's IP was not preserved";
      if (!r.ok()) {
        auto tail = [](const std::string& log) {
          return log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
        };
        std::string app_log = "/run/" + std::string(kLabName) + "-lab/logs/" + pod + ".log";
        ADD_FAILURE() << "node1 ztunnel log (tail):\n"
                      << tail(ztunnelLog("node1")) << "\nnode2 ztunnel log (tail):\n"
                      << tail(ztunnelLog("node2")) << "\n"
                      << app_log << " (tail):\n"
                      << tail(sh("cat " + app_log + " 2>&1; pgrep -a ambit-sample").out);
      }
    }
  }

  static std::string ghostPod(const std::string& name, const std::string& ip,
                              const std::string& netns) {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
           "\n  namespace: default\n  labels:\n    app: \"" + name +
           "\"\n  annotations:\n    ambit.dev/netns: \"" + netns +
           "\"\nspec:\n  nodeName: node1\n  serviceAccountName: " + name +
           "\n  containers:\n    - name: app\n      image: ambit-sample-app\n"
           "status:\n  phase: Running\n  podIP: " +
           ip + "\n  podIPs:\n    - ip: " + ip + "\n";
  }

  static std::string configVersion() {
    return agentConfigDump("node1").value("config_version", "");
  }

  static CommandOutput agentWith(const std::vector<std::string>& extra) {
    std::string tmp = testing::TempDir() + "/ambitcap-badflags";
    std::vector<std::string> argv{binary("ambit-agent"),
                                  "--node",
                                  "badflags",
                                  "--config-dir",
                                  config_dir_,
                                  "--pin-dir",
                                  "/sys/fs/bpf/ambit/ambitcap-badflags",
                                  "--run-dir",
                                  tmp + "/run",
                                  "--state-dir",
                                  tmp + "/state",
                                  "--admin-port",
                                  "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, 20s);
  }
};

TEST_F(AgentTest, KillAndRestartDuringTwoThousandConnectionsLosesNone) {
  constexpr int kConnections = 2000;
  std::string progress = testing::TempDir() + "/ambitcap-loop-progress";
  std::filesystem::remove(progress);
  double opened_before = metricSum(ztunnelMetrics("node1"), "istio_tcp_connections_opened_total");
  auto loop = std::async(std::launch::async, [&] {
    return lab().exec(
        "client",
        {"/usr/bin/python3", std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/capture/connect_loop.py",
         kServiceV4, "80", std::to_string(kConnections), "110", "0.004", progress},
        130s);
  });
  auto progressNow = [&] {
    std::ifstream in(progress);
    int n = -1;
    in >> n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return progressNow() >= 200; }, 30s)) << "the loop did not start";
  int at_kill = progressNow();
  pid_t agent = restartNode1Agent();
  ASSERT_GT(agent, 0);
  ASSERT_TRUE(waitAgentReady("node1", 20s)) << "restarted agent not ready:\n" << agentLog("node1");
  int at_ready = progressNow();
  CommandOutput r = loop.get();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto summary = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(summary.is_object()) << r.out << r.err;
  std::printf("kill -9 at connection %d, new agent ready at %d; loop: %s\n", at_kill, at_ready,
              summary.dump().c_str());
  EXPECT_EQ(summary["attempted"], kConnections);
  EXPECT_EQ(summary["ok"], kConnections) << summary.dump(2);
  EXPECT_EQ(summary["failed"], 0) << summary.dump(2);
  EXPECT_LT(at_ready, kConnections - 20) << "the restart did not happen during the loop";
  // Every connection went through node1's ztunnel (the VIP answers nowhere else).
  EXPECT_GE(
      metricSum(ztunnelMetrics("node1"), "istio_tcp_connections_opened_total") - opened_before,
      kConnections);
  EXPECT_THAT(agentLog("node1"), HasSubstr("adopted")) << "the new agent did not adopt the pins";
  nlohmann::json dump = agentConfigDump("node1");
  EXPECT_EQ(dump["enrolled_pods"].size(), 2u) << dump.dump(2);
  // Live changes still work with the new agent: de-enroll and re-enroll the client.
  setPodLabel("client", "istio.io/dataplane-mode", "none");
  EXPECT_TRUE(eventually(
      [] {
        return !podGet("client", url(kServiceV4, 80), {"-m", "1"}).ok();
      },
      5s))
      << "the restarted agent did not de-enroll the client";
}

TEST_F(AgentTest, RestartedAgentResyncsTheZtunnelPromptly) {
  // A restarted agent re-sends its pods (PodKeep) to the connected ztunnel, which already
  // serves them: the snapshot must be acked at once, with no hand-off errors.
  ASSERT_GT(restartNode1Agent(), 0);
  ASSERT_TRUE(waitAgentReady("node1", 20s)) << agentLog("node1");
  auto start = std::chrono::steady_clock::now();
  nlohmann::json handoff;
  bool synced = eventually(
      [&] {
        handoff = agentConfigDump("node1")["handoff"];
        return handoff.is_object() && handoff.value("acked", 0) >= 3;  // 2 PodKeep + SnapshotDone
      },
      15s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::printf("hand-off snapshot after agent restart acked in %lld ms: %s\n",
              static_cast<long long>(took.count()), handoff.dump().c_str());
  EXPECT_TRUE(synced) << handoff.dump();
  EXPECT_LT(took, 2s) << "the ztunnel took " << took.count() << " ms to ack pods it already "
                      << "serves (ztunnel addPod waits for the certificate of an empty SPIFFE id "
                      << "when openPod finds the uid already open)";
  EXPECT_EQ(handoff.value("errors", -1), 0) << handoff.dump();
}

TEST_F(AgentTest, UnrelatedLabelChangesDoNotDisturbTraffic) {
  // Pods stay enrolled through label edits that do not concern the mesh: no connection fails.
  constexpr int kConnections = 400;
  std::string progress = testing::TempDir() + "/ambitcap-churn-progress";
  std::filesystem::remove(progress);
  auto loop = std::async(std::launch::async, [&] {
    return lab().exec(
        "client",
        {"/usr/bin/python3", std::string(AMBIT_SOURCE_DIR) + "/tests/e2e/capture/connect_loop.py",
         kServiceV4, "80", std::to_string(kConnections), "60", "0.005", progress},
        70s);
  });
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(progress); }, 20s));
  for (int i = 0; i < 4; ++i) {
    std::string yaml = original_pods_;
    for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
      yaml = withPodLabel(yaml, pod, "e2e-churn", std::to_string(i));
    }
    publishPods(yaml);
    std::this_thread::sleep_for(400ms);
  }
  CommandOutput r = loop.get();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto summary = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(summary.is_object()) << r.out << r.err;
  std::printf("label churn loop: %s\n", summary.dump().c_str());
  EXPECT_EQ(summary["ok"], kConnections) << summary.dump(2);
  // A ztunnel that died under the config churn would go unnoticed by the loop (the client's
  // ztunnel fails over to the other endpoint): both must still answer.
  for (const char* node : {"node1", "node2"}) {
    if (ztunnelMetrics(node).find("istio_tcp_connections_opened_total") != std::string::npos) {
      continue;
    }
    std::string log = ztunnelLog(node);
    ADD_FAILURE() << node << "'s ztunnel stopped answering during the label churn; log tail:\n"
                  << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  }
}

TEST_F(AgentTest, PodDeEnrolledWhileTheAgentIsDownIsReleasedByTheNextAgent) {
  ASSERT_GT(restartNode1Agent(), 0);
  ASSERT_TRUE(waitAgentReady("node1", 20s)) << agentLog("node1");
  // Agent down: capture keeps working from the pins; the config changes meanwhile.
  killOwnNode1Agent();
  EXPECT_TRUE(meshPathWorks()) << "capture stopped with the agent down";
  setPodLabel("client", "istio.io/dataplane-mode", "none");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(meshPathWorks()) << "nobody should have de-enrolled the client yet";
  // The next agent adopts the pins and removes what is no longer wanted.
  ASSERT_GT(startOwnNode1Agent(), 0);
  ASSERT_TRUE(waitAgentReady("node1", 20s)) << agentLog("node1");
  std::string client = podIp("client");
  EXPECT_TRUE(eventually(
      [&] {
        HttpResult r = podGet("client", url(podIp("my-app-v2"), 8080), {"-m", "1"});
        return r.relayed() && r.peerIp() == client &&
               !podGet("client", url(kServiceV4, 80), {"-m", "1"}).ok();
      },
      10s))
      << "the client is still captured after the new agent started:\n"
      << agentLog("node1");
  EXPECT_EQ(metricValue(agentMetrics("node1"), "ambit_agent_enrolled_pods"), 1);
  EXPECT_EQ(
      metricValue(agentMetrics("node1"), "ambit_agent_bpf_map_entries", {{"map", "ambit_netns"}}),
      1);
  // The reply routing the old agent put in the client's netns is gone too.
  CommandOutput rules = sh("ip netns exec " + lab().name() + "-pod-client ip rule; ip netns exec " +
                           lab().name() + "-pod-client ip -6 rule; ip netns exec " + lab().name() +
                           "-pod-client cat /proc/sys/net/ipv4/tcp_fwmark_accept");
  EXPECT_EQ(rules.out.find("0x53a"), std::string::npos) << rules.out;
  EXPECT_EQ(rules.out.substr(rules.out.size() - 2), "0\n") << rules.out;
}

TEST_F(AgentTest, MissingNetnsNamesThePodAndOthersKeepWorking) {
  writeExtraConfig("50-e2e-ghost.yaml",
                   ghostPod("ghost", "10.244.1.99", "/run/netns/ambitcap-pod-ghost-missing"));
  nlohmann::json dump;
  ASSERT_TRUE(eventually([&] {
    dump = agentConfigDump("node1");
    return dump.contains("problems") &&
           dump["problems"].dump().find("default/ghost") != std::string::npos;
  })) << "config_dump does not name the pod: "
      << dump.dump(2);
  EXPECT_THAT(dump["problems"].dump(), HasSubstr("ambitcap-pod-ghost-missing"))
      << "the problem does not name the missing netns";
  EXPECT_THAT(agentLog("node1"), HasSubstr("default/ghost"));
  EXPECT_EQ(metricValue(agentMetrics("node1"), "ambit_agent_enrolled_pods"), 2);
  expectOtherPodsWork();
}

TEST_F(AgentTest, PodIpClaimedTwiceIsRejectedNamingBothPodsAndFile) {
  std::string version = configVersion();
  ASSERT_FALSE(version.empty());
  std::string v1 = podIp("my-app-v1");
  writeExtraConfig("50-e2e-twin.yaml", ghostPod("twin", v1, "/run/netns/ambitcap-pod-my-app-v1"));
  std::string log;
  ASSERT_TRUE(eventually([&] {
    log = agentLog("node1");
    return log.find("50-e2e-twin.yaml") != std::string::npos;
  })) << "the agent did not report the file:\n"
      << log;
  size_t at = log.rfind("50-e2e-twin.yaml");
  std::string line = log.substr(log.rfind('\n', at) + 1);
  line = line.substr(0, line.find('\n'));
  EXPECT_THAT(line, HasSubstr(v1));
  EXPECT_THAT(line, HasSubstr("twin"));
  EXPECT_THAT(line, HasSubstr("my-app-v1"));
  EXPECT_EQ(configVersion(), version) << "the last good config was not kept";

  CommandOutput v = run({binary("ambitctl"), "config", "validate", config_dir_});
  EXPECT_NE(v.exit_code, 0);
  EXPECT_THAT(v.out + v.err, HasSubstr("50-e2e-twin.yaml"));
  EXPECT_THAT(v.out + v.err, HasSubstr("my-app-v1"));
  expectOtherPodsWork();
}

TEST_F(AgentTest, GarbageConfigFileIsNamedAndLastGoodConfigStays) {
  std::string version = configVersion();
  ASSERT_FALSE(version.empty());
  const double agent_rejected = metricSum(agentMetrics("node1"), "ambit_config_rejected_total");
  const double zt_rejected = metricSum(ztunnelMetrics("node1"), "ambit_config_rejected_total");
  writeExtraConfig("60-e2e-garbage.yaml", "kind: Pod\nmetadata: [unclosed\n  : : {\n\x01\xff");
  EXPECT_TRUE(eventually([&] {
    return agentLog("node1").find("60-e2e-garbage.yaml") != std::string::npos;
  })) << "the agent log does not name the file";
  EXPECT_TRUE(eventually([&] {
    return ztunnelLog("node1").find("60-e2e-garbage.yaml") != std::string::npos;
  })) << "the ztunnel log does not name the file";
  EXPECT_EQ(configVersion(), version) << "the last good config was not kept";
  // Both daemons count the rejection and still report the version in force.
  EXPECT_TRUE(eventually([&] {
    return metricSum(agentMetrics("node1"), "ambit_config_rejected_total") > agent_rejected &&
           metricSum(ztunnelMetrics("node1"), "ambit_config_rejected_total") > zt_rejected;
  })) << agentMetrics("node1");
  EXPECT_EQ(metricValue(agentMetrics("node1"), "ambit_config_info", {{"version", version}}), 1);
  EXPECT_EQ(metricValue(ztunnelMetrics("node1"), "ambit_config_info", {{"version", version}}), 1);
  expectOtherPodsWork();
}

TEST_F(AgentTest, BadFlagsAreRejectedNamingTheValue) {
  CommandOutput missing = agentWith({"--cgroup", "/nonexistent/ambitcap"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.out + missing.err, HasSubstr("/nonexistent/ambitcap"));

  std::string cgroup = lab().status()["nodes"][0]["cgroup"];
  CommandOutput probe = agentWith({"--cgroup", cgroup, "--probe-source", "not-an-ip"});
  EXPECT_NE(probe.exit_code, 0);
  EXPECT_THAT(probe.out + probe.err, HasSubstr("not-an-ip"));

  // A directory that is not a cgroup2 (a tmpfs).
  std::string dir = testing::TempDir() + "/ambitcap-not-cgroup";
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  CommandOutput tmpfs = agentWith({"--cgroup", dir});
  ::umount2(dir.c_str(), MNT_DETACH);
  std::filesystem::remove(dir);
  EXPECT_NE(tmpfs.exit_code, 0);
  EXPECT_THAT(tmpfs.out + tmpfs.err, HasSubstr(dir));
  EXPECT_THAT(tmpfs.out + tmpfs.err, HasSubstr("cgroup"));
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/ambit/ambitcap-badflags"))
      << "a rejected start left pinned objects";
}

TEST_F(AgentTest, MetricsMatchTheLabAndPassPromtool) {
  ASSERT_TRUE(meshPathWorks());
  // After an earlier test restarted the agent, the ztunnel reconnects within its backoff.
  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = agentMetrics("node1");
    return metricValue(text, "ambit_agent_connected_ztunnels") == 1;
  })) << text;
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(metricValue(text, "ambit_agent_enrolled_pods"), 2) << text;
  EXPECT_EQ(metricValue(text, "ambit_agent_connected_ztunnels"), 1) << text;
  EXPECT_EQ(metricValue(text, "ambit_agent_handoff_errors"), 0) << text;
  EXPECT_EQ(metricValue(text, "ambit_agent_bpf_map_entries", {{"map", "ambit_netns"}}), 2) << text;
  EXPECT_EQ(metricValue(text, "ambit_agent_bpf_map_entries", {{"map", "sk_lookup_links"}}), 2)
      << text;
  EXPECT_GT(metricValue(text, "ambit_agent_bpf_events", {{"event", "outbound_redirected"}}), 0)
      << text;
  // The operational series (docs/observability.md): process, build and the agent's health.
  test::expectProcessAndBuildMetrics(text, "agent", "node1 agent");
  EXPECT_EQ(metricSum(text, "ambit_config_info"), 1) << text;
  EXPECT_GE(metricValue(text, "ambit_config_applied_total").value_or(0), 1) << text;
  EXPECT_EQ(metricValue(text, "ambit_handoff_connected"), 1) << text;

  // De-enrolling a pod shows in the gauges.
  setPodLabel("client", "istio.io/dataplane-mode", "none");
  EXPECT_TRUE(eventually([&] {
    std::string t = agentMetrics("node1");
    return metricValue(t, "ambit_agent_enrolled_pods") == 1 &&
           metricValue(t, "ambit_agent_bpf_map_entries", {{"map", "ambit_netns"}}) == 1 &&
           metricValue(t, "ambit_agent_bpf_map_entries", {{"map", "sk_lookup_links"}}) == 1;
  })) << agentMetrics("node1");

  EXPECT_EQ(test::promtoolProblems(text), "");
}

}  // namespace
}  // namespace ambit::e2e
