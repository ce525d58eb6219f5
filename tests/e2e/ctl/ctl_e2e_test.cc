// ambitctl ztunnel-config, proxy-status and waypoint against a real lab (with its waypoint):
// the lab's pods, services and certificates appear with the right identities, a live
// connection shows while it is open, every daemon reports the config directory's version, and
// a waypoint applied through ambitctl reaches the daemons and goes away with delete.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/files.h"
#include "tests/support/lab.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace ambit::e2e {
namespace {

using json = nlohmann::json;
constexpr const char* kLab = "ctle2e";

class CtlE2eTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::runningAsRoot()) return;
    lab_ = new test::Lab(kLab);
    lab_->down();  // left over by a killed run
    lab_->up({"--waypoint"});
    if (testing::Test::HasFatalFailure()) return;
    const json status = lab_->status();  // alive for the loop
    for (const auto& p : status["pods"]) {
      ips_[p["name"].get<std::string>()] = p["ipv4"].get<std::string>();
    }
    // The mesh serves before anything is inspected: certificates exist, config is loaded.
    up_ = test::eventually(
        [] {
          return lab_->exec("client", {"curl", "-sf", "-m", "2", "http://10.96.0.10/"}).exit_code ==
                 0;
        },
        std::chrono::seconds(30));
  }
  static void TearDownTestSuite() {
    if (lab_ != nullptr) lab_->down();
    delete lab_;
    lab_ = nullptr;
  }
  void SetUp() override {
    AMBIT_REQUIRE(test::missingRoot("end-to-end tests run a lab: network namespaces, cgroups"));
    ASSERT_TRUE(up_) << "the lab did not come up or does not serve client -> my-app";
  }

  // ambitctl <args> --lab <lab>; the test fails when it does not exit 0.
  static std::string ctl(std::vector<std::string> args) {
    args.insert(args.begin(), test::binary("ambitctl"));
    args.push_back("--lab");
    args.push_back(kLab);
    auto r = test::run(args, std::chrono::seconds(30));
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_EQ(r.exit_code, 0) << line << ":\n" << r.out << r.err;
    return r.out;
  }
  static json ctlJson(std::vector<std::string> args) {
    args.push_back("-o");
    args.push_back("json");
    return json::parse(ctl(args), nullptr, false);
  }
  static const json* find(const json& items, const std::string& key, const std::string& value) {
    for (const auto& i : items) {
      if (i.value(key, "") == value) return &i;
    }
    return nullptr;
  }

  static test::Lab* lab_;
  static bool up_;
  static std::map<std::string, std::string> ips_;
};

test::Lab* CtlE2eTest::lab_ = nullptr;
bool CtlE2eTest::up_ = false;
std::map<std::string, std::string> CtlE2eTest::ips_;

TEST_F(CtlE2eTest, WorkloadsAndServicesAreTheLabs) {
  json workloads = ctlJson({"ztunnel-config", "workloads"});
  for (const auto& [pod, node] : std::map<std::string, std::string>{
           {"client", "node1"}, {"my-app-v1", "node1"}, {"my-app-v2", "node2"}}) {
    const json* w = find(workloads, "name", pod);
    ASSERT_NE(w, nullptr) << pod << " missing: " << workloads.dump();
    EXPECT_EQ((*w)["node"], node);
    EXPECT_EQ((*w)["addresses"][0], ips_[pod]);
    EXPECT_TRUE(w->value("enrolled", false)) << pod;
  }
  std::string table = ctl({"ztunnel-config", "workloads", "--node", "node2"});
  EXPECT_EQ(table.substr(0, table.find('\n')),
            "NAMESPACE POD NAME  ADDRESS                       NODE  WAYPOINT PROTOCOL");
  EXPECT_NE(table.find("default   my-app-v2 " + ips_["my-app-v2"] + ","), std::string::npos)
      << table;
  // --workload-node keeps only that node's pods.
  json on2 = ctlJson({"ztunnel-config", "workloads", "--workload-node", "node2"});
  ASSERT_EQ(on2.size(), 1u) << on2.dump();
  EXPECT_EQ(on2[0]["name"], "my-app-v2");

  json services = ctlJson({"ztunnel-config", "services"});
  const json* my_app = find(services, "name", "my-app");
  ASSERT_NE(my_app, nullptr) << services.dump();
  EXPECT_EQ((*my_app)["vips"][0], "10.96.0.10");
  EXPECT_EQ((*my_app)["waypoint"], "default/waypoint");
  table = ctl({"ztunnel-config", "services"});
  EXPECT_NE(table.find("default   my-app       10.96.0.10,fd00:10:96::10 waypoint 2/2"),
            std::string::npos)
      << table;
}

TEST_F(CtlE2eTest, CertificatesCarryThePodsIdentities) {
  for (const auto& [node, sa] :
       std::map<std::string, std::string>{{"node1", "client"}, {"node2", "my-app"}}) {
    json certs = ctlJson({"ztunnel-config", "certificates", "--node", node});
    const std::string id = "spiffe://cluster.local/ns/default/sa/" + sa;
    const json* c = find(certs, "identity", id);
    ASSERT_NE(c, nullptr) << node << ": " << certs.dump();
    EXPECT_EQ((*c)["state"], "Available");
    const json& chain = (*c)["cert_chain"];
    ASSERT_GE(chain.size(), 2u) << chain.dump();
    EXPECT_EQ(chain[0]["type"], "Leaf");
    EXPECT_EQ(chain.back()["type"], "Root");
    EXPECT_TRUE(chain[0]["valid"].get<bool>());
    EXPECT_FALSE(chain[0]["serial_number"].get<std::string>().empty());
    // The leaf really is that certificate: its serial as openssl prints it from the raw dump.
    json dump = lab_->adminConfigDump(node, 15000);
    std::string pem;
    for (const auto& held : dump["certificates"]) {
      if (held["identity"] == id) pem = held["cert_chain"][0];
    }
    ASSERT_FALSE(pem.empty());
    auto serial = test::sh("printf '%s' '" + pem + "' | openssl x509 -noout -serial");
    ASSERT_EQ(serial.exit_code, 0) << serial.err;
    std::string expected = serial.out.substr(serial.out.find('=') + 1);
    expected.erase(expected.find_last_not_of("\n") + 1);
    for (auto& ch : expected) ch = static_cast<char>(std::tolower(ch));
    EXPECT_EQ(chain[0]["serial_number"], expected);
  }
}

TEST_F(CtlE2eTest, ALongLivedConnectionShowsWhileOpen) {
  const std::string target = ips_["my-app-v2"];
  // The client holds the connection open until the test creates the file `done`.
  test::TempDir dir("ctl-e2e");
  const std::string done = dir.file("done");
  test::Subprocess conn;
  ASSERT_TRUE(conn.start({.argv = {test::binary("ambitctl"), "lab", "exec", "--name", kLab,
                                   "client", "--", "python3", "-c",
                                   "import os,socket,time\n"
                                   "s=socket.create_connection(('" +
                                       target +
                                       "',8080))\n"
                                       "deadline=time.time()+60\n"
                                       "while not os.path.exists('" +
                                       done +
                                       "') and "
                                       "time.time()<deadline: time.sleep(0.05)\n"}})
                  .isOk());
  json out, in;
  bool seen = test::eventually(
      [&] {
        out = ctlJson({"ztunnel-config", "connections", "--node", "node1"});
        in = ctlJson({"ztunnel-config", "connections", "--node", "node2"});
        bool outbound = false, inbound = false;
        for (const auto& c : out) {
          outbound |= c.value("direction", "") == "outbound" &&
                      c.value("workload_uid", "") == "default/client" &&
                      c.value("remote", "") == target + ":8080" &&
                      c.value("protocol", "") == "HBONE";
        }
        for (const auto& c : in) {
          inbound |=
              c.value("direction", "") == "inbound" &&
              c.value("workload_uid", "") == "default/my-app-v2" &&
              c.value("remote", "") == ips_["client"] &&
              c.value("remote_identity", "") == "spiffe://cluster.local/ns/default/sa/client";
        }
        return outbound && inbound;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(300));
  EXPECT_TRUE(seen) << "node1: " << out.dump() << "\nnode2: " << in.dump();
  std::string table = ctl({"ztunnel-config", "connections", "--node", "node2"});
  EXPECT_NE(table.find("my-app-v2.default Inbound   my-app-v2.default:8080 client.default"),
            std::string::npos)
      << table;
  test::writeFile(done, "");
  auto exited = conn.waitExit(std::chrono::seconds(10));
  ASSERT_TRUE(exited.has_value()) << "the client did not close its connection";
  EXPECT_EQ(*exited, 0);
  bool gone = test::eventually(
      [&] {
        for (const auto& c : ctlJson({"ztunnel-config", "connections", "--node", "node2"})) {
          if (c.value("remote", "") == ips_["client"]) return false;
        }
        return true;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(300));
  EXPECT_TRUE(gone) << "the closed connection is still listed";
}

TEST_F(CtlE2eTest, ProxyStatusShowsEveryDaemonSynced) {
  const std::string version = lab_->adminConfigDump("node1", 15000).value("config_version", "");
  ASSERT_FALSE(version.empty());
  json rows = ctlJson({"proxy-status"});
  std::vector<std::string> names;
  for (const auto& r : rows) {
    names.push_back(r["name"]);
    EXPECT_EQ(r["status"], "SYNCED") << r.dump();
    EXPECT_EQ(r["config_version"], version) << r.dump();
    EXPECT_FALSE(r["version"].get<std::string>().empty()) << r.dump();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"agent-node1", "ztunnel-node1", "agent-node2",
                                             "ztunnel-node2", "waypoint.default"}));
  std::string table = ctl({"proxy-status"});
  EXPECT_EQ(table.substr(0, table.find('\n')),
            "NAME             CLUSTER SOURCE     VERSION CONFIG"
            "           STATUS");
}

TEST_F(CtlE2eTest, WaypointApplyListStatusDelete) {
  std::string list = ctl({"waypoint", "list"});
  EXPECT_EQ(list, "NAME     TRAFFIC TYPE PROGRAMMED\nwaypoint service      True\n");
  std::string status = ctl({"waypoint", "status"});
  EXPECT_NE(status.find("default   waypoint True   Programmed Programmed"), std::string::npos)
      << status;

  const std::string before = lab_->adminConfigDump("node2", 15000).value("config_version", "");
  ctl({"waypoint", "apply", "--name", "e2e-wp", "--for", "workload"});
  list = ctl({"waypoint", "list"});
  EXPECT_NE(list.find("e2e-wp   workload     False"), std::string::npos) << list;
  // The daemons hot-reload the applied Gateway: a new version, and every one runs it.
  json rows;
  bool synced = test::eventually(
      [&] {
        rows = ctlJson({"proxy-status"});
        for (const auto& r : rows) {
          if (r["status"] != "SYNCED" || r["config_version"] == before) return false;
        }
        return true;
      },
      std::chrono::seconds(15), std::chrono::milliseconds(300));
  EXPECT_TRUE(synced) << rows.dump();
  // No lab pod runs it: status says so.
  status = ctl({"waypoint", "status", "--name", "e2e-wp"});
  EXPECT_NE(status.find("default   e2e-wp False  Programmed NoPod"), std::string::npos) << status;

  ctl({"waypoint", "delete", "--name", "e2e-wp"});
  list = ctl({"waypoint", "list"});
  EXPECT_EQ(list.find("e2e-wp"), std::string::npos) << list;
  // The lab's own Gateway was not written by ambitctl: delete refuses and names its file.
  auto refused = test::run({test::binary("ambitctl"), "waypoint", "delete", "--lab", kLab});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("40-waypoint.yaml"), std::string::npos) << refused.err;
}

TEST_F(CtlE2eTest, WrongNodeListsTheLabsNodes) {
  auto r = test::run(
      {test::binary("ambitctl"), "ztunnel-config", "workloads", "--lab", kLab, "--node", "node9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--node 'node9': lab 'ctle2e' has no such node (nodes: node1, node2)"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace ambit::e2e
