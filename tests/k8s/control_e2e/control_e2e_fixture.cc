#include "tests/k8s/control_e2e/control_e2e_fixture.h"

#include <chrono>
#include <fstream>
#include <set>

#include "common/discovery/channel.h"
#include "common/discovery/grpc_client_stream.h"
#include "tests/support/prometheus.h"
#include "tests/support/requirements.h"
#include "tests/support/wait.h"

namespace ambit::control {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

const std::string kSource = AMBIT_SOURCE_DIR;

}  // namespace

void ControlE2eTest::SetUpTestSuite() {
  if (auto missing = test::missingProgram("setpriv", "util-linux")) {
    missing_ = *missing;
    return;
  }
  startCluster("ambit-control-e2e");
  if (missing_) return;
  std::ifstream state(clusterRoot() + "/cluster.json");
  json cluster = json::parse(state, nullptr, false);
  if (cluster.is_discarded() || !cluster.contains("bin_dir")) {
    missing_ = "cannot read " + clusterRoot() + "/cluster.json";
    return;
  }
  kubectl_ = cluster["bin_dir"].get<std::string>() + "/kubectl --kubeconfig " + clusterRoot() +
             "/kubeconfig";
  auto crds = kubectl("apply -f " + kSource + "/deploy/manifests/crds.yaml");
  auto ns = kubectl("create namespace ambit-system");
  if (crds.exit_code != 0 || ns.exit_code != 0) {
    missing_ = "cannot prepare the cluster:\n" + crds.out + ns.out;
    ADD_FAILURE() << *missing_;
  }
}

void ControlE2eTest::TearDownTestSuite() {
  control_.reset();
  stopCluster();
}

void ControlE2eTest::SetUp() {
  KubeClusterTest::SetUp();
  if (IsSkipped()) return;
  // The CRDs take a moment to be served after `apply`.
  ASSERT_TRUE(test::eventually(
      [&] {
        return kubectl(
                   "get virtualservices.networking.istio.io,gateways.gateway.networking.k8s.io "
                   "-A")
                   .exit_code == 0;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)));
}

test::CommandOutput ControlE2eTest::kubectl(const std::string& args) {
  return test::sh(kubectl_ + " " + args, std::chrono::seconds(60), /*merge_stderr=*/true);
}

void ControlE2eTest::apply(const std::string& document) {
  const std::string file = writeFile("apply-" + std::to_string(++applied_) + ".yaml", document);
  auto out = kubectl("apply -f " + file);
  ASSERT_EQ(out.exit_code, 0) << out.out << "\n" << document;
}

std::unique_ptr<test::ControlProcess> ControlE2eTest::startReplica(const std::string& instance,
                                                                   const std::string& kubeconfig) {
  auto replica = std::make_unique<test::ControlProcess>();
  const std::string log =
      clusterRoot() + "/logs/" + instance + "-" + std::to_string(++replicas_started_) + ".log";
  Status started = replica->start(kubeconfig.empty() ? clusterRoot() + "/kubeconfig" : kubeconfig,
                                  log, instance);
  EXPECT_TRUE(started) << started.message();
  return replica;
}

test::ControlProcess& ControlE2eTest::control() {
  if (!control_ || !control_->running()) {
    control_ = startReplica("ambit-control-0");
    EXPECT_TRUE(control_->waitReady()) << "ambit-control did not become ready\n"
                                       << control_->logTail();
  }
  return *control_;
}

void ControlE2eTest::createLabelledNamespace(const std::string& ns, const json& labels) {
  auto r = call(http::verb::post, "/api/v1/namespaces",
                json{{"metadata", {{"name", ns}, {"labels", labels}}}});
  ASSERT_EQ(r.status, 201u) << r.body;
}

void ControlE2eTest::labelNamespace(const std::string& ns, const json& labels) {
  auto r = call(http::verb::patch, "/api/v1/namespaces/" + ns,
                json{{"metadata", {{"labels", labels}}}}, "application/merge-patch+json");
  ASSERT_EQ(r.status, 200u) << r.body;
}

void ControlE2eTest::createPod(const std::string& ns, const std::string& name,
                               const std::string& sa, const std::string& node, const json& labels,
                               const std::string& ip) {
  if (!sa.empty() && sa != "default") {
    auto created = call(http::verb::post, "/api/v1/namespaces/" + ns + "/serviceaccounts",
                        json{{"metadata", {{"name", sa}}}});
    ASSERT_TRUE(created.status == 201 || created.status == 409) << created.body;
  }
  json pod = {{"metadata", {{"name", name}, {"labels", labels}}},
              {"spec",
               {{"serviceAccountName", sa},
                {"nodeName", node},
                {"containers", {{{"name", "app"}, {"image", "example/app"}}}}}}};
  auto r = call(http::verb::post, "/api/v1/namespaces/" + ns + "/pods", pod);
  ASSERT_EQ(r.status, 201u) << r.body;
  if (ip.empty()) return;
  json written = json::parse(r.body);
  written["status"] = {{"phase", "Running"},
                       {"podIP", ip},
                       {"podIPs", {{{"ip", ip}}}},
                       {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  auto st =
      call(http::verb::put, "/api/v1/namespaces/" + ns + "/pods/" + name + "/status", written);
  ASSERT_EQ(st.status, 200u) << st.body;
}

void ControlE2eTest::deletePod(const std::string& ns, const std::string& name) {
  // No kubelet confirms a graceful delete here: delete at once.
  auto r = call(http::verb::delete_,
                "/api/v1/namespaces/" + ns + "/pods/" + name + "?gracePeriodSeconds=0");
  ASSERT_EQ(r.status, 200u) << r.body;
}

std::string ControlE2eTest::podUid(const std::string& ns, const std::string& name) {
  auto r = call(http::verb::get, "/api/v1/namespaces/" + ns + "/pods/" + name);
  EXPECT_EQ(r.status, 200u) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? "" : j["metadata"].value("uid", std::string());
}

std::string ControlE2eTest::publishedRoot(const std::string& ns) {
  auto r = call(http::verb::get, "/api/v1/namespaces/" + ns + "/configmaps/ambit-ca-root-cert");
  if (r.status != 200) return "";
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("data")) return "";
  return j["data"].value("root-cert.pem", std::string());
}

std::string ControlE2eTest::controlCaFile() {
  std::string root;
  EXPECT_TRUE(runUntil([&] { return !(root = publishedRoot("ambit-system")).empty(); },
                       std::chrono::seconds(30)))
      << "no ConfigMap ambit-ca-root-cert in ambit-system";
  return writeFile("control-ca.pem", root);
}

std::string ControlE2eTest::agentTokenFile(const std::string& node) {
  const std::string pod = "ambit-node-" + node;
  if (call(http::verb::get, "/api/v1/namespaces/ambit-system/pods/" + pod).status == 404) {
    createPod("ambit-system", pod, "ambit-agent", node);
  }
  return writeFile("agent-token-" + node, token("ambit-system", "ambit-agent", "ambit", pod));
}

std::string ControlE2eTest::writeFile(const std::string& name, const std::string& content) {
  return files_.write(name, content).string();
}

discovery::DiscoverySourceOptions ControlE2eTest::sourceOptions(std::vector<std::string> addresses,
                                                                const std::string& token_file) {
  discovery::DiscoverySourceOptions o;
  o.addresses = std::move(addresses);
  o.streams = discovery::grpcStreams();
  o.control_ca = controlCaFile();
  o.token_file = token_file;
  o.server_name = test::ControlProcess::kServerName;
  o.node = "e2e-node";
  o.initial_backoff = std::chrono::milliseconds(50);
  o.max_backoff = std::chrono::milliseconds(500);
  o.seed = 11;
  return o;
}

std::unique_ptr<identity::CaClient> ControlE2eTest::certificateClient(
    const test::ControlProcess& replica, const std::string& token_file) {
  auto channel = discovery::makeControlChannel({.address = replica.address(),
                                                .control_ca = controlCaFile(),
                                                .token_file = token_file,
                                                .server_name = test::ControlProcess::kServerName});
  EXPECT_TRUE(channel) << channel.error().message;
  identity::CaClientOptions o;
  o.address = replica.address();
  o.node = "e2e-node";
  o.channel = channel ? *channel : nullptr;
  return std::make_unique<identity::CaClient>(o);
}

json ControlE2eTest::eventOn(const std::string& ns, const std::string& kind,
                             const std::string& name, const std::string& reason) {
  auto list = call(http::verb::get, "/apis/events.k8s.io/v1/namespaces/" + ns + "/events");
  for (const auto& e : json::parse(list.body, nullptr, false).value("items", json::array())) {
    if (e["regarding"].value("name", "") == name && e["regarding"].value("kind", "") == kind &&
        e.value("reason", "") == reason) {
      return e;
    }
  }
  return nullptr;
}

double ControlE2eTest::metric(const std::string& name, const test::Labels& labels) {
  return test::metricSum(control().get("/metrics").body, name, labels);
}

void expectControlMetrics(const test::PrometheusText& parsed, const std::string& body,
                          double connected_agents) {
  std::set<std::string> families;
  for (const auto& s : parsed.samples()) families.insert(s.name);
  for (const char* name :
       {"ambit_control_object_events_total", "ambit_control_pushes_total",
        "ambit_control_mesh_resources", "ambit_discovery_streams",
        "ambit_discovery_streams_refused_total", "pilot_xds", "pilot_xds_pushes",
        "pilot_total_xds_rejects", "citadel_server_csr_count",
        "citadel_server_success_cert_issuance_count", "ambit_ca_csr_refused_total",
        "citadel_server_root_cert_expiry_timestamp", "citadel_server_root_cert_expiry_seconds",
        "ambit_config_info", "ambit_config_applied_total", "ambit_config_rejected_total"}) {
    EXPECT_TRUE(families.count(name) > 0) << name << " missing from /metrics:\n" << body;
  }
  EXPECT_GE(parsed.sum("ambit_control_pushes_total"), 1.0);
  // istiod's names for the same facts: the agent's stream, the responses it was sent, the CA.
  EXPECT_EQ(parsed.sum("pilot_xds"), parsed.sum("ambit_discovery_streams"));
  EXPECT_EQ(parsed.sum("pilot_xds"), connected_agents);
  EXPECT_EQ(parsed.sum("pilot_xds_pushes"), parsed.sum("ambit_discovery_responses_total"));
  EXPECT_GE(parsed.sum("pilot_xds_pushes"), 1.0);
  const double now_s = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  EXPECT_GT(parsed.sum("citadel_server_root_cert_expiry_timestamp"), now_s + 86400);
  EXPECT_GT(parsed.sum("citadel_server_root_cert_expiry_seconds"), 86400);
  EXPECT_GE(parsed.sum("ambit_config_applied_total"), 1.0);
  EXPECT_FALSE(parsed.value("ambit_xds_connected")) << "ambit-control is no discovery client";
}

const v1::Workload* findWorkload(const v1::MeshSnapshot& s, const std::string& ns,
                                 const std::string& name) {
  for (const auto& w : s.workloads()) {
    if (w.namespace_() == ns && w.name() == name) return &w;
  }
  return nullptr;
}

const v1::Service* findService(const v1::MeshSnapshot& s, const std::string& ns,
                               const std::string& name) {
  for (const auto& x : s.services()) {
    if (x.namespace_() == ns && x.name() == name) return &x;
  }
  return nullptr;
}

const v1::RouteTable* findRouteTable(const v1::MeshSnapshot& s, const std::string& ns,
                                     const std::string& name) {
  for (const auto& x : s.route_tables()) {
    if (x.namespace_() == ns && x.name() == name) return &x;
  }
  return nullptr;
}

}  // namespace ambit::control
