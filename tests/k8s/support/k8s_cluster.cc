#include "tests/k8s/support/k8s_cluster.h"

#include <unistd.h>

#include "common/async/spawn.h"
#include "tests/support/requirements.h"

namespace ambit::test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

const std::string kSource = AMBIT_SOURCE_DIR;

}  // namespace

CommandOutput clusterHarness(const std::string& args) {
  return sh("python3 " + kSource + "/tests/k8s/cluster/cluster.py " + args, std::chrono::minutes(5),
            /*merge_stderr=*/true);
}

void KubeClusterTest::startCluster(const std::string& name) {
  if (sh("bash " + kSource + "/scripts/setup-k8s.sh --check").exit_code != 0) {
    missing_ =
        "the Kubernetes test binaries are not built; run scripts/setup-k8s.sh (scripts/test.sh "
        "does)";
    return;
  }
  scratch_ = std::make_unique<TempDir>(name);
  root_ = scratch_->file("cluster");  // the harness creates it
  auto up = clusterHarness("up --root " + root_ + " --owner-pid " + std::to_string(getpid()));
  if (up.exit_code != 0) missing_ = "the test cluster did not start:\n" + up.out;
  ASSERT_EQ(up.exit_code, 0) << "the test cluster did not start:\n" << up.out;
}

void KubeClusterTest::stopCluster() {
  if (!root_.empty()) (void)clusterHarness("down --root " + root_);
  root_.clear();
  scratch_.reset();
}

void KubeClusterTest::SetUp() {
  AMBIT_REQUIRE(missing_);
  auto cfg = kube::loadKubeconfig(root_ + "/kubeconfig");
  ASSERT_TRUE(cfg) << cfg.error().message;
  config_ = *cfg;
  client_ = std::make_unique<kube::ApiClient>(io_.get_executor(),
                                              std::make_shared<kube::Credentials>(config_));
}

kube::ApiResponse KubeClusterTest::call(kube::ApiClient& client, http::verb verb,
                                        const std::string& target, const json& body,
                                        const std::string& content_type) {
  std::optional<Result<kube::ApiResponse>> got;
  // Built before the coroutine: GCC 12 mis-destroys temporaries of a conditional in co_await.
  std::string text = body.is_null() ? std::string() : body.dump();
  spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        got = co_await client.request(verb, target, text, content_type);
      },
      "api call");
  EXPECT_TRUE(runUntil([&] { return got.has_value(); }));
  if (!got || !*got) {
    ADD_FAILURE() << target << ": " << (got ? got->error().message : "no answer");
    return {};
  }
  return **got;
}

void KubeClusterTest::createNamespace(const std::string& ns) {
  auto r = call(http::verb::post, "/api/v1/namespaces", json{{"metadata", {{"name", ns}}}});
  ASSERT_TRUE(r.status == 201 || r.status == 409) << r.body;
}

std::string KubeClusterTest::token(const std::string& ns, const std::string& sa,
                                   const std::string& audience, const std::string& bound_pod) {
  auto created = call(http::verb::post, "/api/v1/namespaces/" + ns + "/serviceaccounts",
                      json{{"metadata", {{"name", sa}}}});
  EXPECT_TRUE(created.status == 201 || created.status == 409) << created.body;
  json spec = {{"audiences", {audience}}, {"expirationSeconds", 600}};
  if (!bound_pod.empty()) {
    auto pod = call(http::verb::get, "/api/v1/namespaces/" + ns + "/pods/" + bound_pod);
    EXPECT_EQ(pod.status, 200u) << pod.body;
    auto uid = json::parse(pod.body, nullptr, false)["metadata"].value("uid", std::string());
    spec["boundObjectRef"] = {
        {"kind", "Pod"}, {"apiVersion", "v1"}, {"name", bound_pod}, {"uid", uid}};
  }
  auto r = call(
      http::verb::post, "/api/v1/namespaces/" + ns + "/serviceaccounts/" + sa + "/token",
      json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}});
  EXPECT_EQ(r.status, 201u) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? "" : j["status"].value("token", std::string());
}

}  // namespace ambit::test
