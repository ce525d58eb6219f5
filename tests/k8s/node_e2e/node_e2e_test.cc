// End to end, Kubernetes mode on nodes (issue 11), with the fixture of node_e2e_fixture.h:
// enrolment and its annotation, mTLS across nodes, a live namespace relabel, pods added and
// deleted later, AuthorizationPolicy timing, the control plane down and an agent restart.
#include "tests/k8s/node_e2e/node_e2e_fixture.h"

namespace ambit::test {
namespace {

TEST_F(NodeE2eTest, PodsOfAnAmbientNamespaceAreEnrolledAndAnnotated) {
  for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
    EXPECT_TRUE(eventually([&] { return annotation(pod) == "enabled"; }, 15s))
        << pod << " has no " << kRedirection << " annotation";
  }
  EXPECT_EQ(metric("node1", 15030, "ambit_agent_enrolled_pods"), 2);
  EXPECT_EQ(metric("node2", 15030, "ambit_agent_enrolled_pods"), 1);
  // Discovery and hand-off state (docs/observability.md): each agent streams from ambit-control,
  // each ztunnel from its agent's relay.
  for (const char* node : {"node1", "node2"}) {
    EXPECT_TRUE(eventually([&] { return metric(node, 15030, "ambit_xds_connected") == 1; }))
        << node << " agent";
    EXPECT_TRUE(eventually([&] { return metric(node, 15020, "ambit_xds_connected") == 1; }))
        << node << " ztunnel";
    EXPECT_EQ(metric(node, 15020, "ambit_handoff_connected"), 1) << node;
  }
}

TEST_F(NodeE2eTest, ServiceTrafficAcrossNodesIsMutualTls) {
  double before = mtlsInboundToV2();
  ASSERT_TRUE(reachV2ThroughService()) << "client never reached my-app-v2 through " << kService;
  EXPECT_TRUE(eventually([&] { return mtlsInboundToV2() > before; }, 5s))
      << "node2's ztunnel counted no mutual_tls connection to my-app-v2";
}

TEST_F(NodeE2eTest, NamespaceLabelDeEnrollsAndReEnrollsLive) {
  auto start = Clock::now();
  auto r = kubectl({"label", "namespace", "default", "istio.io/dataplane-mode-"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
    EXPECT_TRUE(eventually([&] { return annotation(pod).empty(); }, 15s))
        << pod << " kept its annotation after its namespace left the mesh";
  }
  EXPECT_TRUE(eventually([&] { return metric("node2", 15030, "ambit_agent_enrolled_pods") == 0; }));
  std::cout << "[ measure ] de-enrolment of 3 pods after the label removal: "
            << millis(Clock::now() - start) << " ms (annotations gone)\n";
  // Uncaptured: plain pod-to-pod traffic, no tunnel at node2's ztunnel.
  double mtls = mtlsInboundToV2();
  EXPECT_NE(get("client", kMyAppV2).find("\"pod\":\"my-app-v2\""), std::string::npos);
  EXPECT_EQ(mtlsInboundToV2(), mtls) << "traffic still went through the mesh";

  start = Clock::now();
  r = kubectl({"label", "namespace", "default", "istio.io/dataplane-mode=ambient"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
    EXPECT_TRUE(eventually([&] { return annotation(pod) == "enabled"; }, 15s))
        << pod << " was not re-enrolled";
  }
  std::cout << "[ measure ] re-enrolment of 3 pods after relabelling: "
            << millis(Clock::now() - start) << " ms (annotations back)\n";
  EXPECT_TRUE(eventually([&] { return metric("node2", 15030, "ambit_agent_enrolled_pods") == 1; }));
  double again = mtlsInboundToV2();
  ASSERT_TRUE(reachV2ThroughService());
  EXPECT_TRUE(eventually([&] { return mtlsInboundToV2() > again; }, 5s));
}

TEST_F(NodeE2eTest, PodStartedLaterIsEnrolledAndADeletedPodLeavesNoState) {
  double count = metric("node2", 15030, "ambit_agent_pod_enroll_seconds_count");
  double sum = metric("node2", 15030, "ambit_agent_pod_enroll_seconds_sum");
  auto r = lab_->ctl({"pod", "add", "late", "--node", "node2", "--label", "app=late"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(eventually([&] { return annotation("late") == "enabled"; }, 15s));
  ASSERT_TRUE(eventually([&] {
    return metric("node2", 15030, "ambit_agent_pod_enroll_seconds_count") == count + 1;
  })) << "node2's agent observed no enrolment time for the new pod";
  double seconds = metric("node2", 15030, "ambit_agent_pod_enroll_seconds_sum") - sum;
  std::cout << "[ measure ] new pod: " << seconds * 1000
            << " ms from its first process to enrolled (ambit_agent_pod_enroll_seconds)\n";
  EXPECT_LT(seconds, 5.0);
  const std::string uid = kubectl({"get", "pod", "late", "-o", "jsonpath={.metadata.uid}"}).out;
  const std::string ip = lab_->podIp("late");
  ASSERT_FALSE(uid.empty());
  auto mtls = [] {
    return metric("node2", 15020, "istio_tcp_connections_opened_total",
                  {{"connection_security_policy", "mutual_tls"}, {"destination_workload", "late"}});
  };
  double before = mtls();
  EXPECT_NE(get("client", "http://" + ip + ":8080/").find("\"pod\":\"late\""), std::string::npos);
  EXPECT_TRUE(eventually([&] { return mtls() > before; }, 5s))
      << "traffic to the new pod is not mTLS";

  r = lab_->ctl({"pod", "delete", "late"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(kubectl({"get", "pod", "late"}).exit_code, 0) << "the Pod object is still there";
  auto traceless = [&](int port) {
    std::string dump =
        lab_->nodeHttpGet("node2", "http://127.0.0.1:" + std::to_string(port) + "/config_dump");
    return !dump.empty() && dump.find(uid) == std::string::npos &&
           dump.find("\"late\"") == std::string::npos &&
           dump.find("\"" + ip + "\"") == std::string::npos;
  };
  EXPECT_TRUE(eventually([&] { return traceless(15031); }, 10s))
      << "node2's agent still knows the deleted pod:\n"
      << lab_->nodeHttpGet("node2", "http://127.0.0.1:15031/config_dump");
  EXPECT_TRUE(eventually([&] { return traceless(15000); }, 10s))
      << "node2's ztunnel still knows the deleted pod";
  EXPECT_EQ(metric("node2", 15030, "ambit_agent_enrolled_pods"), 1);
}

TEST_F(NodeE2eTest, AuthorizationPolicyDenyIsEnforcedAndRemovedWithinOneSecond) {
  ASSERT_FALSE(get("client", kMyAppV2).empty()) << "client cannot reach my-app-v2 to begin with";
  const std::string file = clusterRoot() + "/../deny-client.yaml";
  writeFile(file, denyClientPolicy("deny-client"));
  auto r = kubectl({"apply", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto applied = Clock::now();
  auto denied = timeUntil(applied, [] { return get("client", kMyAppV2, "0.5").empty(); });
  ASSERT_TRUE(denied) << "the DENY policy was not enforced within 5 s";
  std::cout << "[ measure ] DENY enforced " << millis(*denied) << " ms after kubectl apply\n";
  EXPECT_LT(*denied, 1s);
  // It stays enforced.
  EXPECT_TRUE(get("client", kMyAppV2).empty());

  r = kubectl({"delete", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto deleted = Clock::now();
  auto allowed = timeUntil(deleted, [] { return !get("client", kMyAppV2, "0.5").empty(); });
  ASSERT_TRUE(allowed) << "traffic still denied 5 s after the policy was deleted";
  std::cout << "[ measure ] DENY lifted " << millis(*allowed) << " ms after kubectl delete\n";
  EXPECT_LT(*allowed, 1s);
}

TEST_F(NodeE2eTest, ControlPlaneDownLeavesTrafficAloneAndARestartedAgentResumesFromItsSnapshot) {
  auto print = [](const char* step, const Probe& p) {
    std::cout << "[ measure ] " << step << ": " << p.failures << " of " << p.requests
              << " new connections failed, " << millis(p.failing) << " ms failing\n";
  };
  auto timed = [](Clock::duration d) {
    return [end = Clock::now() + d] { return Clock::now() >= end; };
  };
  auto request = [](const std::string& url) { return get("client", url); };
  auto launchOf = [](const std::string& node, const std::string& daemon) {
    DaemonLaunch l;
    l.pid = lab_->daemonPid(node, daemon);
    if (l.pid > 0) {
      l.argv = processArgv(l.pid);
      l.env = processEnviron(l.pid);
    }
    return l;
  };
  auto startOwned = [](const std::string& name, const DaemonLaunch& l, const std::string& netns) {
    Status s = owned_[name].start({.argv = l.argv,
                                   .env = l.env,
                                   .netns = "/run/netns/" + std::string(kLabName) + "-" + netns,
                                   .log_file = ownedLog(name)});
    return s ? std::string() : s.message();
  };
  auto agentDump = [](const std::string& node) { return lab_->adminConfigDump(node, 15031); };
  auto connected = [&](const std::string& node) {
    auto d = agentDump(node);
    return d.contains("kubernetes") && d["kubernetes"]["discovery"].value("connected", false);
  };

  // Traffic works over mTLS to begin with; both agents are connected to ambit-control.
  double mtls = mtlsInboundToV2();
  ASSERT_TRUE(reachV2ThroughService());
  ASSERT_TRUE(eventually([&] { return mtlsInboundToV2() > mtls; }, 5s));
  for (const char* node : {"node1", "node2"}) ASSERT_TRUE(connected(node)) << node;
  // The replicas still running (an earlier test may have killed one).
  std::map<std::string, DaemonLaunch> controls;
  for (const char* name : {"control", "control-1"}) {
    DaemonLaunch l = launchOf("cluster", name);
    if (l.pid > 0 && !processGone(l.pid)) controls[name] = l;
  }
  ASSERT_FALSE(controls.empty()) << "no ambit-control replica runs";
  DaemonLaunch agent = launchOf("node2", "agent");
  for (const auto& [name, control] : controls) {
    ASSERT_FALSE(control.argv.empty()) << "no argv for " << name << " (pid " << control.pid << ")";
  }
  ASSERT_FALSE(agent.argv.empty()) << "no argv for node2's agent (pid " << agent.pid << ")";

  // A long-lived connection client -> my-app-v2 (node2) across all of steps 1 and 2.
  mtls = mtlsInboundToV2();
  auto held = std::async(std::launch::async, [] {
    return lab_->exec("client", {"curl", "-sf", "-m", "40", kMyAppV2 + "delay/15000"}, 45s);
  });
  ASSERT_TRUE(eventually([&] { return mtlsInboundToV2() > mtls; }, 5s))
      << "the long-lived connection never reached node2's ztunnel";

  // 1. Both ambit-control replicas stop (SIGTERM by the PIDs the lab recorded).
  for (const auto& [name, control] : controls) ASSERT_EQ(::kill(control.pid, SIGTERM), 0) << name;
  for (const auto& [name, control] : controls) {
    const int pid = control.pid;
    ASSERT_TRUE(eventually([&] { return processGone(pid); }, 10s)) << name << " survived";
  }
  EXPECT_TRUE(eventually([&] { return !connected("node1") && !connected("node2"); }, 10s))
      << "an agent still reports a connection to the stopped ambit-control";
  mtls = mtlsInboundToV2();
  Probe down = probeService(timed(4s), request);
  print("control plane down", down);
  EXPECT_EQ(down.failures, 0);
  EXPECT_GT(mtlsInboundToV2(), mtls) << "new connections to my-app-v2 were not mTLS";

  // 2. node2's agent is killed and started again with its argv and environment while
  // ambit-control is still down: it must run from its persisted snapshot.
  std::atomic<bool> restarted{false};
  const auto probing_until = Clock::now() + 30s;  // bounded even if `restarted` is never set
  auto during = std::async(std::launch::async, [&] {
    return probeService([&] { return restarted.load() || Clock::now() >= probing_until; }, request);
  });
  struct StopProbing {  // an ASSERT below returning early must not leave `during` running
    std::atomic<bool>& flag;
    ~StopProbing() { flag = true; }
  } stop_probing{restarted};
  ASSERT_EQ(::kill(agent.pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return processGone(agent.pid); }, 5s));
  auto started = Clock::now();
  std::string error = startOwned("node2/agent", agent, "node2");
  ASSERT_EQ(error, "") << "starting node2's agent again";
  bool ready = eventually(
      [&] {
        auto d = agentDump("node2");
        return lab_->inNode("node2",
                            {"curl", "-sf", "-m", "1", "http://127.0.0.1:15030/healthz/ready"})
                       .exit_code == 0 &&
               d.contains("kubernetes") &&
               d["kubernetes"]["discovery"].value("from_persisted", false) &&
               d.dump().find("\"my-app-v2\"") != std::string::npos;
      },
      20s);
  auto ready_after = Clock::now() - started;
  restarted = true;
  Probe restart = during.get();
  ASSERT_TRUE(ready) << "the restarted agent did not become ready from its snapshot:\n"
                     << agentDump("node2").dump(2) << "\n"
                     << readFile(ownedLog("node2/agent"));
  std::cout << "[ measure ] restarted agent ready (healthz, from_persisted, my-app-v2 listed) "
            << millis(ready_after) << " ms after its start\n";
  print("agent kill -9 and restart, control down", restart);
  EXPECT_EQ(restart.failures, 0);
  EXPECT_NE(readFile(ownedLog("node2/agent")).find("running from the persisted snapshot"),
            std::string::npos);
  EXPECT_EQ(annotation("my-app-v2"), "enabled");
  EXPECT_EQ(metric("node2", 15030, "ambit_agent_enrolled_pods"), 1);
  mtls = mtlsInboundToV2();
  Probe after = probeService(timed(3s), request);
  print("after the agent restart, control down", after);
  EXPECT_EQ(after.failures, 0);
  EXPECT_TRUE(reachV2ThroughService());
  EXPECT_TRUE(eventually([&] { return mtlsInboundToV2() > mtls; }, 5s));
  auto from_v2 = lab_->exec(
      "my-app-v2", {"curl", "-sf", "-m", "2", "http://" + lab_->podIp("client") + ":8080/"}, 10s);
  EXPECT_EQ(from_v2.exit_code, 0) << "my-app-v2 (node2) cannot reach client: " << from_v2.err;

  ASSERT_EQ(held.wait_for(30s), std::future_status::ready);
  auto long_lived = held.get();
  EXPECT_EQ(long_lived.exit_code, 0) << "the long-lived connection broke: " << long_lived.err;
  EXPECT_NE(long_lived.out.find("my-app-v2"), std::string::npos) << long_lived.out;

  // 3. ambit-control starts again: the agents reconnect and a change made afterwards applies.
  started = Clock::now();
  for (const auto& [name, control] : controls) {
    error = startOwned("cluster/" + name, control, "underlay");
    ASSERT_EQ(error, "") << "starting " << name << " again";
  }
  for (const char* node : {"node1", "node2"}) {
    EXPECT_TRUE(eventually([&] { return connected(node); }, 30s))
        << node << "'s agent did not reconnect:\n"
        << agentDump(node).dump(2);
  }
  std::cout << "[ measure ] both agents reconnected " << millis(Clock::now() - started)
            << " ms after ambit-control started again\n";
  const std::string file = clusterRoot() + "/../deny-client-after-restart.yaml";
  writeFile(file, denyClientPolicy("deny-client-after-restart"));
  auto r = kubectl({"apply", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto denied = timeUntil(Clock::now(), [] { return get("client", kMyAppV2, "0.5").empty(); });
  EXPECT_TRUE(denied) << "a DENY applied after the restart was not enforced within 5 s";
  if (denied)
    std::cout << "[ measure ] DENY after the restart enforced in " << millis(*denied) << " ms\n";
  r = kubectl({"delete", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(timeUntil(Clock::now(), [] { return !get("client", kMyAppV2, "0.5").empty(); }))
      << "traffic still denied 5 s after the policy was deleted";
}

}  // namespace
}  // namespace ambit::test
