#include "cli/ztunnel_views.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/support/test_pki.h"

namespace ambit::cli {
namespace {

using json = nlohmann::json;

// The shape of ztunnel/admin.cc's /config_dump (proto3 JSON: defaults omitted).
json sampleDump() {
  return json::parse(R"({
    "node": "node1",
    "workloads": [
      {"uid": "default/client", "name": "client", "namespace": "default", "node": "node1",
       "addresses": ["10.244.1.10", "fd00:10:244:1::10"], "enrolled": true,
       "serviceAccount": "client"},
      {"uid": "default/my-app-v2", "name": "my-app-v2", "namespace": "default", "node": "node2",
       "addresses": ["10.244.2.10"], "enrolled": true, "waypoint": "default/waypoint"},
      {"uid": "other/legacy", "name": "legacy", "namespace": "other", "node": "node2",
       "addresses": ["10.244.2.11"]}
    ],
    "services": [
      {"name": "my-app", "namespace": "default", "hostname": "my-app.default.svc.cluster.local",
       "vips": ["10.96.0.10", "fd00:10:96::10"], "waypoint": "default/waypoint",
       "endpoints": ["default/my-app-v2", "default/gone"]},
      {"name": "legacy", "namespace": "other", "hostname": "legacy.other.svc.cluster.local",
       "vips": ["10.96.0.12"]}
    ],
    "policies": [
      {"name": "allow-client", "namespace": "default", "selector": {"app": "my-app"}},
      {"name": "deny-all", "namespace": "istio-system", "scope": "GLOBAL", "action": "DENY"},
      {"name": "ns-audit", "namespace": "other", "scope": "NAMESPACE", "action": "AUDIT"}
    ],
    "connections": [
      {"direction": "outbound", "workload_uid": "default/client", "local": "127.0.0.1:40000",
       "remote": "10.96.0.10:80", "via": "10.244.2.10:15008", "protocol": "HBONE"},
      {"direction": "inbound", "workload_uid": "default/my-app-v2", "local": "10.244.2.10:8080",
       "remote": "10.244.1.10", "remote_identity": "spiffe://cluster.local/ns/default/sa/client",
       "protocol": "HBONE"},
      {"direction": "outbound", "workload_uid": "other/legacy", "local": "10.244.2.11:5000",
       "remote": "[2001:db8::1]:443", "via": "", "protocol": "TCP"}
    ]
  })");
}

TEST(ZtunnelViewsTest, WorkloadsAsIstioctlShowsThem) {
  auto v = workloadsView(sampleDump(), {});
  EXPECT_EQ(v.table.render(),
            "NAMESPACE POD NAME  ADDRESS                       NODE  WAYPOINT PROTOCOL\n"
            "default   client    10.244.1.10,fd00:10:244:1::10 node1 None     HBONE\n"
            "default   my-app-v2 10.244.2.10                   node2 waypoint HBONE\n"
            "other     legacy    10.244.2.11                   node2 None     TCP\n");
  EXPECT_EQ(v.items.size(), 3u);
}

TEST(ZtunnelViewsTest, WorkloadFiltersByNamespaceAndNode) {
  auto v = workloadsView(sampleDump(), {.namespace_name = "default", .workload_node = "node2"});
  ASSERT_EQ(v.items.size(), 1u);
  EXPECT_EQ(v.items[0]["name"], "my-app-v2");
  EXPECT_EQ(v.table.rows(), 1u);
}

TEST(ZtunnelViewsTest, ServicesCountEndpointsKnownAsWorkloads) {
  auto v = servicesView(sampleDump(), {});
  EXPECT_EQ(v.table.render(),
            "NAMESPACE SERVICE NAME SERVICE VIP               WAYPOINT ENDPOINTS\n"
            "default   my-app       10.96.0.10,fd00:10:96::10 waypoint 1/2\n"
            "other     legacy       10.96.0.12                None     0/0\n");
}

TEST(ZtunnelViewsTest, PoliciesFillInProtoDefaults) {
  auto v = policiesView(sampleDump(), {});
  EXPECT_EQ(v.table.render(),
            "NAMESPACE    POLICY NAME  ACTION SCOPE\n"
            "default      allow-client Allow  WorkloadSelector\n"
            "istio-system deny-all     Deny   Global\n"
            "other        ns-audit     Audit  Namespace\n");
  EXPECT_EQ(policiesView(sampleDump(), {.namespace_name = "other"}).items.size(), 1u);
}

TEST(ZtunnelViewsTest, ConnectionsNameKnownAddresses) {
  auto v = connectionsView(sampleDump(), {});
  EXPECT_EQ(v.table.render(),
            "WORKLOAD          DIRECTION LOCAL                  REMOTE            REMOTE TARGET"
            "                    PROTOCOL\n"
            "client.default    Outbound  client.default:40000   10.96.0.10:80     "
            "my-app.default.svc.cluster.local HBONE\n"
            "my-app-v2.default Inbound   my-app-v2.default:8080 client.default    "
            "                                 HBONE\n"
            "legacy.other      Outbound  legacy.other:5000      [2001:db8::1]:443 "
            "                                 TCP\n");
  EXPECT_EQ(connectionsView(sampleDump(), {.namespace_name = "other"}).items.size(), 1u);
}

TEST(ZtunnelViewsTest, MissingSectionsGiveEmptyTables) {
  json dump = {{"node", "n"}};
  EXPECT_EQ(workloadsView(dump, {}).table.rows(), 0u);
  EXPECT_EQ(servicesView(dump, {}).table.rows(), 0u);
  EXPECT_EQ(connectionsView(dump, {}).table.rows(), 0u);
  auto certs = certificatesView(dump, std::chrono::system_clock::now());
  ASSERT_TRUE(certs);
  EXPECT_EQ(certs->table.rows(), 0u);
}

// The whitespace-separated cells of line `n` of a table.
std::vector<std::string> words(const std::string& table, size_t n) {
  std::istringstream lines(table);
  std::string line;
  for (size_t i = 0; i <= n && std::getline(lines, line); ++i) {
  }
  std::istringstream cells(line);
  std::vector<std::string> out;
  for (std::string w; cells >> w;) out.push_back(w);
  return out;
}

TEST(ZtunnelViewsTest, CertificatesListLeafAndRootWithSerialAndValidity) {
  test::TestPki pki("test root");
  auto leaf = pki.issue("spiffe://cluster.local/ns/default/sa/client");
  json dump = {
      {"certificates",
       {{{"identity", "spiffe://cluster.local/ns/default/sa/client"},
         {"state", "Available"},
         {"cert_chain", {leaf.cert_pem}},
         {"root_certs", {pki.caPem()}}},
        {{"identity", "spiffe://cluster.local/ns/default/sa/late"}, {"state", "Initializing"}}}}};
  auto v = certificatesView(dump, std::chrono::system_clock::now());
  ASSERT_TRUE(v) << v.error().message;
  std::string table = v->table.render();
  EXPECT_EQ(table.rfind("CERTIFICATE NAME", 0), 0u) << table;
  ASSERT_EQ(v->items.size(), 2u);
  const json& chain = v->items[0]["cert_chain"];
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0]["type"], "Leaf");
  EXPECT_EQ(chain[1]["type"], "Root");
  EXPECT_TRUE(chain[0]["valid"].get<bool>());
  EXPECT_FALSE(chain[0]["serial_number"].get<std::string>().empty());
  EXPECT_NE(chain[0]["serial_number"], chain[1]["serial_number"]);
  const std::string serial = chain[0]["serial_number"];
  EXPECT_EQ(words(table, 1),
            (std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/client", "Leaf",
                                      "Available", "true", serial, chain[0]["expiration_time"],
                                      chain[0]["valid_from"]}))
      << table;
  EXPECT_EQ(words(table, 3), (std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/late",
                                                       "Leaf", "Initializing", "false"}))
      << table;
  // A day and a half later the leaf (valid for a day) has expired.
  auto later = certificatesView(dump, std::chrono::system_clock::now() + std::chrono::hours(36));
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->items[0]["cert_chain"][0]["valid"].get<bool>());
}

TEST(ZtunnelViewsTest, ExpiredCertificateIsNotValid) {
  test::TestPki pki("test root");
  auto leaf = pki.issue("spiffe://cluster.local/ns/a/sa/b", test::TestPki::Validity::kExpired);
  json dump = {{"certificates",
                {{{"identity", "spiffe://cluster.local/ns/a/sa/b"},
                  {"state", "Available"},
                  {"cert_chain", leaf.cert_pem}}}}};
  auto v = certificatesView(dump, std::chrono::system_clock::now());
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->items[0]["cert_chain"][0]["valid"].get<bool>());
  EXPECT_EQ(v->items[0]["cert_chain"][0]["expiration_time"], "2020-01-02T00:00:00Z");
}

TEST(ZtunnelViewsTest, UnparsableChainIsAnErrorNamingTheIdentity) {
  json dump = {{"certificates",
                {{{"identity", "spiffe://x/ns/a/sa/b"},
                  {"state", "Available"},
                  {"cert_chain",
                   {"-----BEGIN CERTIFICATE-----\nnot base64\n"
                    "-----END CERTIFICATE-----\n"}}}}}};
  auto v = certificatesView(dump, std::chrono::system_clock::now());
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("spiffe://x/ns/a/sa/b"), std::string::npos);
}

TEST(ZtunnelViewsTest, AllRendersEveryViewOrOneObject) {
  auto now = std::chrono::system_clock::now();
  auto text = renderAll(sampleDump(), {}, OutputFormat::kShort, now);
  ASSERT_TRUE(text);
  for (const char* header :
       {"POD NAME", "SERVICE VIP", "POLICY NAME", "CERTIFICATE NAME", "REMOTE TARGET"}) {
    EXPECT_NE(text->find(header), std::string::npos) << header;
  }
  auto j = renderAll(sampleDump(), {}, OutputFormat::kJson, now);
  ASSERT_TRUE(j);
  auto all = json::parse(*j);
  EXPECT_EQ(all["workloads"].size(), 3u);
  EXPECT_EQ(all["connections"].size(), 3u);
  EXPECT_TRUE(all["certificates"].is_array());
}

}  // namespace
}  // namespace ambit::cli
