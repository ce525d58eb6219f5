// End-to-end: HTTP/2 through the waypoint in a lab of its own ("h2e2e", `lab up --waypoint`).
// The unchanged client speaks h2c with prior knowledge (h2load, curl) to Service my-app
// (10.96.0.10:80, HTTP/1.1 sample app behind it); its ztunnel tunnels to the waypoint, which
// serves HTTP/2 inside the tunnel, routes each stream and forwards HTTP/1.1 to the endpoints.
// A second Service with appProtocol http2 targets nginx (h2c) started in my-app-v1's netns:
// the waypoint forwards to it as HTTP/2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "tests/support/observability.h"
#include "tests/support/requirements.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/support/text.h"
#include "tests/support/wait.h"
#include "tests/support/waypoint_lab.h"

namespace ambit::e2e {
namespace {

using test::CommandOutput;
using test::eventually;

const std::string kConfigFile = "50-h2-test.yaml";

// Service my-app-h2: my-app-v1 only, port 80 -> 8090 (nginx, h2c), appProtocol http2.
constexpr char kH2Service[] = R"(apiVersion: v1
kind: Service
metadata:
  name: my-app-h2
  namespace: default
  labels: {istio.io/use-waypoint: waypoint}
spec:
  selector: {app: my-app, version: v1}
  clusterIP: 10.96.0.12
  ports: [{name: h2, port: 80, targetPort: 8090, appProtocol: http2}]
)";

class H2E2eTest : public test::WaypointLabTest {
 public:
  // The JSON access log here (the other waypoint suites read the default text format).
  static void SetUpTestSuite() { upLab("h2e2e", {"--waypoint-arg=--access-log-format=json"}); }

 protected:
  void TearDown() override {
    if (lab_ != nullptr && test::runningAsRoot()) applyConfig("", "");
  }

  // Writes (or, for empty yaml, removes) the test's config file and waits until the waypoint
  // logged a config version containing `want` (e.g. "1 route tables").
  static void applyConfig(const std::string& yaml, const std::string& want) {
    applyWaypointConfig(kConfigFile, yaml, want);
  }

  static CommandOutput curlH2(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"curl", "-sS", "-m", "20", "--http2-prior-knowledge"};
    argv.insert(argv.end(), args.begin(), args.end());
    return lab_->exec("client", argv, std::chrono::seconds(120));
  }
};

TEST_F(H2E2eTest, CurlPriorKnowledgeSingleRequest) {
  CommandOutput out = curlH2({"-w", "\n%{http_code} %{http_version}", "http://10.96.0.10/hello"});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("\"pod\":\"my-app-v"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("\n200 2"), std::string::npos) << out.out;
}

TEST_F(H2E2eTest, H2loadAllSucceedAndMetricsSayHttp) {
  CommandOutput load =
      lab_->exec("client", {"h2load", "-n", "2000", "-c", "4", "-m", "8", "http://10.96.0.10/"},
                 std::chrono::seconds(180));
  ASSERT_EQ(load.exit_code, 0) << load.out << load.err;
  std::cout << load.out << "\n";
  EXPECT_NE(load.out.find("2000 succeeded, 0 failed, 0 errored"), std::string::npos) << load.out;
  EXPECT_NE(load.out.find("status codes: 2000 2xx"), std::string::npos) << load.out;
  std::smatch m;
  if (std::regex_search(load.out, m, std::regex(R"(finished in ([0-9.]+\w+), ([0-9.]+) req/s)"))) {
    RecordProperty("h2load_req_per_s", m[2].str());
    std::cout << "h2load through the waypoint: " << m[2].str() << " req/s\n";
  }
  CommandOutput metrics =
      lab_->exec("waypoint", {"curl", "-s", "-m", "5", "http://127.0.0.1:15020/metrics"});
  ASSERT_EQ(metrics.exit_code, 0);
  // Istio labels HTTP/1.1 and HTTP/2 alike request_protocol="http" (gRPC: "grpc").
  EXPECT_NE(metrics.out.find("request_protocol=\"http\""), std::string::npos);
  // Every access-log line is one JSON object with the request's fields.
  const std::string log = waypointLog();
  EXPECT_NE(log.find(" access {\"start_time\":"), std::string::npos) << log.substr(0, 2000);
  auto records = test::accessRecords(log);
  ASSERT_GE(records.size(), 2000u);
  for (const auto& r : records) ASSERT_FALSE(r.contains("unparsed")) << r.at("unparsed");
  EXPECT_FALSE(
      test::matchingAccessRecords(
          log,
          {{"method", "GET"}, {"protocol", "HTTP/2"}, {"response_code", "200"}, {"authz", "allow"}})
          .empty());
}

TEST_F(H2E2eTest, SeedSplitHoldsForHttp2) {
  applyConfig(test::seedVirtualService(), "1 route tables");
  // One connection, 1000 streams (nghttp; curl 7.88 cannot reuse an h2c connection).
  std::vector<std::string> argv{"nghttp", "-t", "60"};
  for (int i = 0; i < 1000; ++i) argv.push_back("http://10.96.0.10/?n=" + std::to_string(i));
  CommandOutput out = lab_->exec("client", argv, std::chrono::seconds(120));
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const size_t v1 = test::occurrences(out.out, "\"version\":\"v1\"");
  const size_t v2 = test::occurrences(out.out, "\"version\":\"v2\"");
  std::cout << "h2 split of 1000: v1=" << v1 << " v2=" << v2 << "\n";
  RecordProperty("v1", static_cast<int>(v1));
  RecordProperty("v2", static_cast<int>(v2));
  EXPECT_EQ(v1 + v2, 1000u) << out.out.substr(0, 2000);
  EXPECT_GE(v1, 750u);  // 80% +- 5% of 1000 (sd ~12.6)
  EXPECT_LE(v1, 850u);
}

TEST_F(H2E2eTest, AppProtocolHttp2ReachesAnH2cBackendAsHttp2) {
  // nginx (h2c on 8090) in my-app-v1's netns; stopped below even when an assertion fails.
  test::TempDir nginx_dir("ambit-h2e2e-nginx");
  const std::string dir = nginx_dir.path().string();
  // nginx's workers run as nobody and must reach the temp paths it creates under the prefix.
  std::filesystem::permissions(
      dir,
      std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
          std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  {
    std::ofstream conf(dir + "/nginx.conf");
    conf << "daemon on;\npid " << dir << "/nginx.pid;\nerror_log " << dir
         << "/error.log;\nevents {}\nhttp {\n  access_log off;\n  server {\n"
         << "    listen 8090 http2;\n"
         << "    location / { return 200 \"nginx $server_protocol $request_uri\\n\"; }\n"
         << "  }\n}\n";
  }
  CommandOutput started = lab_->exec("my-app-v1", {"nginx", "-p", dir, "-c", dir + "/nginx.conf"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  struct StopNginx {
    std::string dir;
    ~StopNginx() { test::sh("kill -QUIT $(cat " + dir + "/nginx.pid) 2>/dev/null; sleep 0.2"); }
  } stop{dir};
  applyConfig(kH2Service, "0 route tables");
  bool routed = eventually(
      [] {
        return curlH2({"-o", "/dev/null", "-w", "%{http_code}", "http://10.96.0.12/"}).out == "200";
      },
      std::chrono::seconds(20));
  ASSERT_TRUE(routed) << waypointLog();
  CommandOutput out =
      lab_->exec("client", {"nghttp", "-t", "20", "http://10.96.0.12/a", "http://10.96.0.12/b"});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("nginx HTTP/2.0 /a\n"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("nginx HTTP/2.0 /b\n"), std::string::npos) << out.out;
  CommandOutput load =
      lab_->exec("client", {"h2load", "-n", "500", "-c", "2", "-m", "8", "http://10.96.0.12/"},
                 std::chrono::seconds(120));
  EXPECT_NE(load.out.find("status codes: 500 2xx"), std::string::npos) << load.out;
}

}  // namespace
}  // namespace ambit::e2e
