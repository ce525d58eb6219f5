// Mesh traffic through two ztunnels: curl and iperf3 across nodes and on one node, a
// third-party HTTP/2 client (Python ssl + h2) speaking HBONE to 15008 with a mesh certificate
// and the refusals it must get, and Istio TCP metrics that match the bytes sent exactly.
#include <gmock/gmock.h>
#include <signal.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/e2e/ztunnel/zt_fixture.h"
#include "tests/support/observability.h"

namespace ambit::e2e::zt {
namespace {

using testing::HasSubstr;

std::map<std::string, std::string> destLabels(const std::string& pod) {
  return {{"reporter", "destination"},
          {"destination_workload", pod},
          {"source_principal", kClientId},
          {"connection_security_policy", "mutual_tls"}};
}

std::string nodeOf(const std::string& pod) { return pod == "my-app-v2" ? "node2" : "node1"; }

TEST_F(MeshTest, CurlReachesMyAppAcrossNodesAndOnTheSameNode) {
  for (const std::string pod : {"my-app-v2", "my-app-v1"}) {
    SCOPED_TRACE(pod);
    std::string node = nodeOf(pod);
    double before = metricSum(metrics(node), "istio_tcp_connections_opened_total", destLabels(pod));
    auto r = lab().exec("client", {"curl", "-sS", "-m", "5", appUrl(pod, "/hello")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto body = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.out;
    EXPECT_EQ(body["pod"], pod);
    EXPECT_EQ(body["path"], "/hello");
    // The app sees the client's IP (the ztunnel connects from it) and the destination ztunnel
    // counted the connection.
    EXPECT_EQ(body.value("peer", "").rfind("10.244.1.10:", 0), 0u) << body.dump();
    EXPECT_TRUE(eventually([&] {
      return metricSum(metrics(node), "istio_tcp_connections_opened_total", destLabels(pod)) >
             before;
    })) << "destination ztunnel on "
        << node << " did not count an mTLS connection";
    EXPECT_TRUE(eventually([&] {
      return !test::matchingAccessRecords(lab().daemonLog(node, "ztunnel"),
                                          {{"direction", "inbound"},
                                           {"protocol", "HBONE"},
                                           {"src.identity", kClientId},
                                           {"dst.addr", ip(pod) + ":8080"}})
                  .empty();
    })) << lab().daemonLog(node, "ztunnel");
  }
  // Through the service VIP (10.96.0.10:80 -> 8080), unchanged app config.
  EXPECT_EQ(curlStatus("client", "http://10.96.0.10/"), 200);
}

// iperf3 -s in `pod` (one test, daemonized, PID from its pidfile), iperf3 -c from client.
struct IperfResult {
  double bytes = 0, bits_per_second = 0;
};

IperfResult runIperf(Lab& lab, const std::string& pod, const std::string& pod_ip) {
  std::string pidfile = "/tmp/ambitzt-iperf3-" + pod + ".pid";
  std::filesystem::remove(pidfile);
  auto s = lab.exec(pod, {"iperf3", "-s", "-1", "-D", "-p", "5201", "--pidfile", pidfile});
  EXPECT_EQ(s.exit_code, 0) << s.out << s.err;
  struct KillServer {
    std::string pidfile;
    ~KillServer() {
      std::ifstream in(pidfile);
      int pid = 0;
      if (in >> pid && pid > 1) ::kill(pid, SIGTERM);
      std::filesystem::remove(pidfile);
    }
  } kill_server{pidfile};
  EXPECT_TRUE(
      eventually([&] { return std::filesystem::exists(pidfile); }, std::chrono::seconds(5)));
  IperfResult out;
  CommandOutput c;
  // The server may need a moment to listen after writing its pidfile.
  for (int i = 0; i < 5; ++i) {
    c = lab.exec("client", {"iperf3", "-c", pod_ip, "-p", "5201", "-t", "2", "-J"},
                 std::chrono::seconds(30));
    if (c.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  auto j = nlohmann::json::parse(c.out, nullptr, false);
  if (j.is_discarded()) return out;
  out.bytes = j["end"]["sum_received"].value("bytes", 0.0);
  out.bits_per_second = j["end"]["sum_received"].value("bits_per_second", 0.0);
  return out;
}

TEST_F(MeshTest, Iperf3ThroughTheMeshAcrossNodesAndOnTheSameNode) {
  for (const std::string pod : {"my-app-v2", "my-app-v1"}) {
    SCOPED_TRACE(pod);
    std::string node = nodeOf(pod);
    auto log_before = lab().daemonLog(node, "ztunnel").size();
    double before = metricSum(metrics(node), "istio_tcp_connections_opened_total", destLabels(pod));
    IperfResult r = runIperf(lab(), pod, ip(pod));
    EXPECT_GT(r.bytes, 0);
    std::printf("iperf3 client -> %s (%s): %.0f bytes, %.1f Mbit/s\n", pod.c_str(),
                pod == "my-app-v2" ? "across nodes" : "same node", r.bytes,
                r.bits_per_second / 1e6);
    RecordProperty("iperf3_mbps_" + pod, std::to_string(r.bits_per_second / 1e6));
    // iperf3 opens a control and a data connection, both through HBONE.
    EXPECT_TRUE(eventually([&] {
      return metricSum(metrics(node), "istio_tcp_connections_opened_total", destLabels(pod)) >=
             before + 2;
    }));
    EXPECT_TRUE(eventually([&] {
      return lab().daemonLog(node, "ztunnel").find(ip(pod) + ":5201", log_before) !=
             std::string::npos;
    })) << "no access log line for the iperf3 connections on "
        << node;
  }
}

// --- the third-party HBONE client ---------------------------------------------------------

class ThirdPartyClient : public MeshTest {
 protected:
  void SetUp() override {
    MeshTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ca_cert_ = lab().runDir() + "/ca/ca-cert.pem";
    ca_key_ = lab().runDir() + "/ca/ca-key.pem";
    ASSERT_TRUE(std::filesystem::exists(ca_cert_)) << ca_cert_;
    ASSERT_TRUE(std::filesystem::exists(ca_key_)) << ca_key_;
  }
  // hbone_client.py from the client pod's netns to my-app-v2:15008.
  nlohmann::json connect(const test::PemFiles* leaf, const std::string& authority,
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "--target", ip("my-app-v2") + ":15008", "--authority", authority, "--ca", ca_cert_};
    if (leaf) args.insert(args.end(), {"--cert", leaf->cert, "--key", leaf->key});
    args.insert(args.end(), extra.begin(), extra.end());
    return pyNetns("client", "hbone_client.py", args);
  }
  std::string appAuthority() { return ip("my-app-v2") + ":8080"; }
  test::PemFiles leaf(const std::string& name, const std::string& uri,
                      test::TestPki::Validity validity = test::TestPki::Validity::kCurrent) {
    return labLeaf(lab(), pki_dir_, name, uri, validity);
  }

  test::TempDir pki_dir_{"ambitzt-pki"};
  std::string ca_cert_, ca_key_;
};

TEST_F(ThirdPartyClient, ValidMeshCertificateTunnelsToTheApp) {
  auto leaf = this->leaf("client", kClientId);
  ASSERT_FALSE(leaf.cert.empty());
  auto r = connect(&leaf, appAuthority(), {"--path", "/from-h2"});
  ASSERT_EQ(r["result"], "ok") << r.dump();
  EXPECT_EQ(r["status"], 200);
  std::string data = r.value("data", "");
  ASSERT_THAT(data, HasSubstr("HTTP/1.1 200"));
  auto body = nlohmann::json::parse(data.substr(data.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << data;
  EXPECT_EQ(body["pod"], "my-app-v2");
  EXPECT_EQ(body["path"], "/from-h2");
}

TEST_F(ThirdPartyClient, NoClientCertificateIsRefusedInTheHandshake) {
  auto r = connect(nullptr, appAuthority());
  EXPECT_EQ(r["result"], "tls_error") << r.dump();
}

TEST_F(ThirdPartyClient, ForeignCaIsRefused) {
  test::TestPki foreign("foreign");
  auto leaf = test::writePemFiles(foreign.issue(kClientId), pki_dir_.path(), "foreign");
  ASSERT_FALSE(leaf.cert.empty());
  auto r = connect(&leaf, appAuthority());
  EXPECT_EQ(r["result"], "tls_error") << r.dump();
}

TEST_F(ThirdPartyClient, ForeignTrustDomainIsRefused) {
  auto leaf = this->leaf("evil", "spiffe://evil.example/ns/default/sa/client");
  ASSERT_FALSE(leaf.cert.empty());
  auto r = connect(&leaf, appAuthority());
  EXPECT_EQ(r["result"], "tls_error") << r.dump();
}

TEST_F(ThirdPartyClient, ExpiredCertificateIsRefused) {
  auto leaf = this->leaf("expired", kClientId, test::TestPki::Validity::kExpired);
  ASSERT_FALSE(leaf.cert.empty());
  auto r = connect(&leaf, appAuthority());
  EXPECT_EQ(r["result"], "tls_error") << r.dump();
}

TEST_F(ThirdPartyClient, AuthorityThatIsNotThePodGets400) {
  auto leaf = this->leaf("client", kClientId);
  ASSERT_FALSE(leaf.cert.empty());
  auto r = connect(&leaf, ip("my-app-v1") + ":8080");
  EXPECT_EQ(r["result"], "status") << r.dump();
  EXPECT_EQ(r["status"], 400) << r.dump();
}

TEST_F(ThirdPartyClient, SelfCallToZtunnelPortsGets400) {
  auto leaf = this->leaf("client", kClientId);
  ASSERT_FALSE(leaf.cert.empty());
  for (const char* port : {"15008", "15006", "15001"}) {
    auto r = connect(&leaf, ip("my-app-v2") + ":" + port);
    EXPECT_EQ(r["status"], 400) << port << ": " << r.dump();
  }
}

// --- metrics --------------------------------------------------------------------------------

TEST_F(MeshTest, TcpByteMetricsMatchWhatWasSentOnBothReporters) {
  const std::map<std::string, std::string> src{
      {"reporter", "source"}, {"source_workload", "client"}, {"destination_workload", "my-app-v2"}};
  const std::map<std::string, std::string> dst{{"reporter", "destination"},
                                               {"source_workload", "client"},
                                               {"destination_workload", "my-app-v2"}};
  struct Snap {
    double rx, tx, closed;
  };
  auto snap = [&](const std::string& node, const std::map<std::string, std::string>& m) {
    std::string text = metrics(node);
    return Snap{metricSum(text, "istio_tcp_received_bytes_total", m),
                metricSum(text, "istio_tcp_sent_bytes_total", m),
                metricSum(text, "istio_tcp_connections_closed_total", m)};
  };
  // Start from quiet counters: no earlier connection with these labels still open.
  auto quiet = [&](const std::string& node, const std::map<std::string, std::string>& m) {
    std::string text = metrics(node);
    return metricSum(text, "istio_tcp_connections_opened_total", m) ==
           metricSum(text, "istio_tcp_connections_closed_total", m);
  };
  ASSERT_TRUE(eventually([&] { return quiet("node1", src) && quiet("node2", dst); }));
  Snap s0 = snap("node1", src), d0 = snap("node2", dst);
  auto r = pyJson("client", "tcp_probe.py",
                  {"exact", "--target", ip("my-app-v2") + ":8080", "--path", "/bytes/123457",
                   "--send-body", "7001"});
  ASSERT_TRUE(r.is_object());
  ASSERT_THAT(r.value("status", ""), HasSubstr("200")) << r.dump();
  double sent = r["sent"], received = r["received"];
  ASSERT_GT(received, 123457);
  Snap s1{}, d1{};
  ASSERT_TRUE(eventually([&] {
    s1 = snap("node1", src);
    d1 = snap("node2", dst);
    return s1.closed > s0.closed && d1.closed > d0.closed;
  })) << "the connection was not counted as closed on both reporters";
  EXPECT_EQ(s1.rx - s0.rx, sent) << "source reporter: request bytes";
  EXPECT_EQ(s1.tx - s0.tx, received) << "source reporter: response bytes";
  EXPECT_EQ(d1.rx - d0.rx, sent) << "destination reporter: request bytes";
  EXPECT_EQ(d1.tx - d0.tx, received) << "destination reporter: response bytes";
}

TEST_F(MeshTest, MetricsPassPromtool) {
  ASSERT_EQ(curlStatus("client", appUrl("my-app-v2")), 200);  // some series on both nodes
  for (const char* node : {"node1", "node2"}) {
    std::string text = metrics(node);
    ASSERT_THAT(text, HasSubstr("istio_tcp_connections_opened_total")) << node;
    // The operational series (docs/observability.md): process, build, and the ztunnel's health.
    test::expectProcessAndBuildMetrics(text, "ztunnel", node);
    EXPECT_EQ(metricSum(text, "ambit_config_info"), 1) << node << ":\n" << text;
    EXPECT_GE(metricSum(text, "ambit_config_applied_total"), 1) << node;
    EXPECT_TRUE(test::metricValue(text, "ambit_config_rejected_total")) << node;
    EXPECT_EQ(test::metricValue(text, "ambit_handoff_connected"), 1) << node;
    // Every pod of the lab runs with a certificate its node's ztunnel holds, valid for a while.
    const double now = static_cast<double>(std::time(nullptr));
    const std::string id = std::string(node) == "node1"
                               ? kClientId
                               : std::string("spiffe://cluster.local/ns/default/sa/my-app");
    auto expiry = test::metricValue(text, "istio_cert_expiry_seconds", {{"identity", id}});
    ASSERT_TRUE(expiry) << node << " holds no certificate for " << id << ":\n" << text;
    EXPECT_GT(*expiry, now + 60) << node;
    std::string file = "/tmp/ambitzt-metrics-" + std::string(node) + ".txt";
    std::ofstream(file) << text;
    auto r = sh("/usr/bin/promtool check metrics < " + file);
    EXPECT_EQ(r.exit_code, 0) << node << ":\n" << r.out << r.err;
    std::filesystem::remove(file);
  }
}

}  // namespace
}  // namespace ambit::e2e::zt
