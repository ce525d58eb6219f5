// ambitctl's inspection commands against a Kubernetes-mode lab (issue 15: "against a cluster
// once Kubernetes mode exists"): proxy-status finds both ambit-control replicas, the agents and
// ztunnels streaming from them and says they are in sync; ztunnel-config shows the pods the
// ztunnel learnt from ambit-control, enrolled, and the identities it holds certificates for.
#include <nlohmann/json.hpp>

#include "tests/k8s/node_e2e/node_e2e_fixture.h"

namespace ambit::test {
namespace {

using json = nlohmann::json;

// `ambitctl <args> --lab <the fixture's lab> -o json`, parsed; the test fails unless it exits 0.
json ctlJson(std::vector<std::string> args) {
  args.insert(args.begin(), binary("ambitctl"));
  for (const char* a : {"--lab", kLabName, "-o", "json"}) args.push_back(a);
  auto r = run(args, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return json::parse(r.out, nullptr, false);
}

TEST_F(NodeE2eTest, ProxyStatusAndZtunnelConfigReadTheKubernetesModeDaemons) {
  // Every daemon in sync; converging may take a push or two after the suite's other changes.
  json rows;
  const bool synced = eventually(
      [&] {
        rows = ctlJson({"proxy-status"});
        if (!rows.is_array() || rows.empty()) return false;
        for (const auto& r : rows) {
          const std::string status = r.value("status", "");
          if (status != "SYNCED" && status != "SERVING") return false;
        }
        return true;
      },
      20s);
  EXPECT_TRUE(synced) << rows.dump(1);
  std::map<std::string, std::string> status_of;
  for (const auto& r : rows) status_of[r.value("name", "")] = r.value("status", "");
  for (const char* daemon : {"agent-node1", "ztunnel-node1", "agent-node2", "ztunnel-node2"}) {
    EXPECT_EQ(status_of[daemon], "SYNCED") << daemon << " in " << rows.dump(1);
  }
  int controls = 0;
  for (const auto& [name, status] : status_of) {
    if (name.find("control") != std::string::npos) {
      ++controls;
      EXPECT_EQ(status, "SERVING") << name;
    }
  }
  EXPECT_EQ(controls, 2) << "both ambit-control replicas: " << rows.dump(1);

  // node1's ztunnel knows the pods ambit-control translated from the API server, with their
  // IPs and nodes; the ambient ones are enrolled (HBONE).
  json workloads = ctlJson({"ztunnel-config", "workloads", "--node", "node1"});
  std::map<std::string, json> by_name;
  for (const auto& w : workloads) by_name[w.value("name", "")] = w;
  for (const char* pod : {"client", "my-app-v1", "my-app-v2"}) {
    ASSERT_TRUE(by_name.count(pod)) << pod << " missing from " << workloads.dump(1);
    EXPECT_EQ(by_name[pod].value("namespace", ""), "default");
    EXPECT_TRUE(by_name[pod].value("enrolled", false)) << by_name[pod].dump();  // HBONE
  }
  EXPECT_EQ(by_name["my-app-v2"].value("node", ""), "node2");
  EXPECT_EQ(by_name["client"].value("node", ""), "node1");

  // Certificates: the identities of node1's pods, issued by ambit-control's CA via the agent.
  json certs = ctlJson({"ztunnel-config", "certificates", "--node", "node1"});
  std::string names = certs.dump();
  EXPECT_NE(names.find("spiffe://cluster.local/ns/default/sa/client"), std::string::npos) << names;
}

}  // namespace
}  // namespace ambit::test
