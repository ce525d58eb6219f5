// End to end, Kubernetes mode on nodes (issue 11), with the fixture of node_e2e_fixture.h:
// L7 routing through the waypoint ambit-control deployed for a Gateway, Service and
// EndpointSlice changes reaching the ztunnels, and an ambit-control replica killed under load.
// Same suite (one cluster and lab), linked before node_e2e_test.cc: these run before its
// control-plane-down test, which stops every replica still running and starts them again.
#include "tests/k8s/node_e2e/node_e2e_fixture.h"

namespace ambit::test {
namespace {

const std::string kSplitScript = kSource + "/tests/e2e/waypoint/http_split.py";

// http_split.py from the client pod: `count` GETs on one keep-alive connection to my-app.
nlohmann::json split(Lab& lab, int count) {
  CommandOutput out = lab.exec(
      "client", {"/usr/bin/python3", kSplitScript, "10.96.0.10", "80", "/", std::to_string(count)},
      120s);
  EXPECT_EQ(out.exit_code, 0) << out.err;
  return nlohmann::json::parse(out.out, nullptr, false);
}

std::string field(const std::vector<std::string>& get_args, const std::string& path) {
  std::vector<std::string> args{"get"};
  args.insert(args.end(), get_args.begin(), get_args.end());
  args.insert(args.end(), {"-o", "jsonpath=" + path});
  return NodeE2eTest::kubectl(args).out;
}

void applyYaml(const std::string& name, const std::string& yaml) {
  const std::string file = NodeE2eTest::scratchFile(name + ".yaml");
  std::ofstream(file) << yaml;
  auto r = NodeE2eTest::kubectl({"apply", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

// The version answering a request to `url` from the client ("" when it failed).
std::string versionAt(const std::string& url) {
  auto body = nlohmann::json::parse(NodeE2eTest::get("client", url, "0.5"), nullptr, false);
  return body.is_object() ? body.value("version", "") : "";
}

TEST_F(NodeE2eTest, SeedVirtualServiceSplitsEightyTwentyThroughTheGatewaysWaypoint) {
  // What ambit-control made of the Gateway the lab applied: owned objects, a status address.
  const std::string gateway_uid = field({"gateway", "waypoint"}, "{.metadata.uid}");
  ASSERT_FALSE(gateway_uid.empty()) << "no Gateway default/waypoint";
  for (const char* kind : {"deployment", "service", "serviceaccount"}) {
    EXPECT_EQ(field({kind, "waypoint"}, "{.metadata.ownerReferences[0].uid}"), gateway_uid)
        << kind << " waypoint is not owned by its Gateway";
  }
  const std::string vip = field({"service", "waypoint"}, "{.spec.clusterIP}");
  EXPECT_EQ(field({"gateway", "waypoint"}, "{.status.addresses[0].value}"), vip);

  // The user's steps: bind the Service, define subsets, apply the seed VirtualService verbatim.
  auto r = kubectl({"label", "service", "my-app", "istio.io/use-waypoint=waypoint"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  applyYaml("subsets", R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-app, namespace: default}
spec:
  host: my-app
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)");
  // First everything to v2: once only v2 answers, routes from the API server are applied at
  // the waypoint; then the seed replaces it.
  applyYaml("all-to-v2", R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: my-app, namespace: default}
spec:
  hosts: [my-app.default.svc.cluster.local]
  http:
  - route: [{destination: {host: my-app, subset: v2}}]
)");
  int v2_in_a_row = 0;
  ASSERT_TRUE(eventually(
      [&] {
        v2_in_a_row = versionAt("http://10.96.0.10/") == "v2" ? v2_in_a_row + 1 : 0;
        return v2_in_a_row >= 20;
      },
      15s))
      << "a VirtualService applied with kubectl never routed through the waypoint\n"
      << lab_->podLog("waypoint");
  r = kubectl({"apply", "-f", kSource + "/tests/data/seed-virtualservice.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(eventually([&] { return versionAt("http://10.96.0.10/") == "v1"; }, 15s))
      << "the seed VirtualService did not replace the previous one";

  nlohmann::json s = split(*lab_, 2000);
  ASSERT_TRUE(s.is_object()) << s;
  EXPECT_EQ(s["errors"], 0) << s;
  EXPECT_EQ(s["statuses"].value("200", 0), 2000) << s;
  const int v1 = s["versions"].value("v1", 0);
  const int v2 = s["versions"].value("v2", 0);
  std::cout << "[ measure ] seed VirtualService through the Gateway's waypoint, 2000 requests: v1="
            << v1 << " v2=" << v2 << "\n";
  EXPECT_GE(v1, 1540) << s;  // 80 % +- 3 % of 2000
  EXPECT_LE(v1, 1660) << s;
  EXPECT_GE(v2, 340) << s;
  EXPECT_LE(v2, 460) << s;
  // The requests crossed the waypoint: node2's ztunnel saw the waypoint's identity for v2.
  EXPECT_GT(metric("node2", 15020, "istio_tcp_connections_opened_total",
                   {{"reporter", "destination"},
                    {"destination_workload", "my-app-v2"},
                    {"source_workload", "waypoint"},
                    {"connection_security_policy", "mutual_tls"}}),
            0);

  for (const char* kind : {"virtualservice", "destinationrule"}) {
    EXPECT_EQ(kubectl({"delete", kind, "my-app"}).exit_code, 0);
  }
  r = kubectl({"label", "service", "my-app", "istio.io/use-waypoint-"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(NodeE2eTest, ServiceAndEndpointSliceChangesReachTheZtunnels) {
  // A Service without a selector: its endpoints are what EndpointSlices say.
  auto slice = [](const std::string& pod, const std::string& ip) {
    const std::string uid = field({"pod", pod}, "{.metadata.uid}");
    return R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-1
  namespace: default
  labels: {kubernetes.io/service-name: legacy}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [)" +
           ip + R"(]
  targetRef: {kind: Pod, name: )" +
           pod + ", namespace: default, uid: " + uid + "}\n";
  };
  auto service = [](int port) {
    return R"(apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: )" +
           std::to_string(port) + ", targetPort: 8080}]\n";
  };
  // Until `version` answers (the time that took is printed as `what`), then 10 times in a row.
  auto only = [](const std::string& url, const std::string& version, const std::string& what) {
    auto start = Clock::now();
    if (!eventually([&] { return versionAt(url) == version; }, 10s)) return false;
    std::cout << "[ measure ] " << what << ": " << millis(Clock::now() - start)
              << " ms after kubectl apply returned\n";
    for (int i = 0; i < 10; ++i) {
      if (versionAt(url) != version) return false;
    }
    return true;
  };
  applyYaml("legacy-service", service(80));
  applyYaml("legacy-slice", slice("my-app-v2", lab_->podIp("my-app-v2")));
  ASSERT_TRUE(only("http://10.96.0.20/", "v2", "new Service + EndpointSlice served"))
      << "the EndpointSlice's endpoint is not used";
  double mtls = mtlsInboundToV2();
  EXPECT_EQ(versionAt("http://10.96.0.20/"), "v2");
  EXPECT_GT(mtlsInboundToV2(), mtls) << "traffic to the EndpointSlice's pod is not mTLS";

  // The slice moves to my-app-v1.
  applyYaml("legacy-slice", slice("my-app-v1", lab_->podIp("my-app-v1")));
  EXPECT_TRUE(only("http://10.96.0.20/", "v1", "EndpointSlice update applied"))
      << "the EndpointSlice update did not apply";

  // The Service's port changes.
  applyYaml("legacy-service", service(81));
  EXPECT_TRUE(only("http://10.96.0.20:81/", "v1", "new Service port served"))
      << "the new Service port is not served";
  EXPECT_TRUE(eventually([] { return versionAt("http://10.96.0.20/").empty(); }, 10s))
      << "the old Service port still answers";

  // The slice goes: no endpoints, no answer.
  ASSERT_EQ(kubectl({"delete", "endpointslice", "legacy-1"}).exit_code, 0);
  EXPECT_TRUE(eventually([] { return versionAt("http://10.96.0.20:81/").empty(); }, 10s))
      << "a Service without endpoints still answers";
  ASSERT_EQ(kubectl({"delete", "service", "legacy"}).exit_code, 0);
}

// The replica the agents and the waypoint hold their discovery streams with, or "".
std::string servingReplica(Lab& lab) {
  const std::pair<std::string, std::string> replicas[] = {{"control", "172.30.0.1"},
                                                          {"control-1", "172.30.0.2"}};
  for (const auto& [name, ip] : replicas) {
    const std::string url = "http://" + ip + ":15014/metrics";
    if (metricSum(lab.inNode("underlay", {"curl", "-sf", "-m", "2", url}).out,
                  "ambit_discovery_streams") > 0) {
      return name;
    }
  }
  return "";
}

TEST_F(NodeE2eTest, ControlReplicaKilledUnderLoadFailsNoRequest) {
  auto connected = [](const std::string& node) {
    auto d = lab_->adminConfigDump(node, 15031);
    return d.contains("kubernetes") && d["kubernetes"]["discovery"].value("connected", false);
  };
  for (const char* node : {"node1", "node2"}) ASSERT_TRUE(connected(node)) << node;
  const std::string serving = servingReplica(*lab_);
  ASSERT_FALSE(serving.empty()) << "no replica reports discovery streams";
  const int pid = lab_->daemonPid("cluster", serving);
  ASSERT_GT(pid, 0);

  // Load: new connections client -> my-app (both nodes) and client -> my-app-v2's pod address,
  // one after another, while the replica dies and the agents move to the other one.
  std::atomic<bool> done{false};
  const auto bound = Clock::now() + 40s;
  auto load = std::async(std::launch::async, [&] {
    return probeService([&] { return done.load() || Clock::now() >= bound; },
                        [](const std::string& url) { return get("client", url); });
  });
  struct StopLoad {
    std::atomic<bool>& flag;
    ~StopLoad() { flag = true; }
  } stop_load{done};
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto killed = Clock::now();
  ASSERT_TRUE(eventually([&] { return processGone(pid); }, 5s));
  const std::string other = serving == "control" ? "control-1" : "control";
  EXPECT_TRUE(eventually([&] { return servingReplica(*lab_) == other; }, 20s))
      << "the streams did not move to " << other;
  for (const char* node : {"node1", "node2"}) {
    EXPECT_TRUE(eventually([&] { return connected(node); }, 20s)) << node << " did not reconnect";
  }
  std::cout << "[ measure ] agents reconnected to " << other << " " << millis(Clock::now() - killed)
            << " ms after " << serving << " was killed\n";
  std::this_thread::sleep_for(1s);  // and some load after the move
  done = true;
  Probe p = load.get();
  std::cout << "[ measure ] " << serving << " killed under load: " << p.failures << " of "
            << p.requests << " new connections failed\n";
  EXPECT_GT(p.requests, 20);
  EXPECT_EQ(p.failures, 0);

  // The surviving replica carries changes: a DENY applied now is enforced, then lifted.
  applyYaml("deny-after-failover", denyClientPolicy("deny-after-failover"));
  EXPECT_TRUE(timeUntil(Clock::now(), [] { return get("client", kMyAppV2, "0.5").empty(); }))
      << "a DENY applied through the surviving replica was not enforced within 5 s";
  ASSERT_EQ(kubectl({"delete", "authorizationpolicy", "deny-after-failover"}).exit_code, 0);
  EXPECT_TRUE(timeUntil(Clock::now(), [] { return !get("client", kMyAppV2, "0.5").empty(); }))
      << "traffic still denied 5 s after the policy was deleted";
}

}  // namespace
}  // namespace ambit::test
