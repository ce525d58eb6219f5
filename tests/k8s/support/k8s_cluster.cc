#include "tests/k8s/support/k8s_cluster.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "common/async/spawn.h"
#include "common/kube/base64.h"
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

std::string expiredToken(const std::string& root, const std::string& ns, const std::string& sa) {
  std::ifstream in(root + "/pki/sa.key");
  EXPECT_TRUE(in) << "no " << root << "/pki/sa.key";
  std::stringstream pem;
  pem << in.rdbuf();
  const std::string text = pem.str();
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return "";
  auto b64url = [](std::string_view bytes) {
    std::string s = kube::base64Encode(bytes);
    for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
  };
  const long now = static_cast<long>(std::time(nullptr));
  json claims = {{"iss", "https://kubernetes.default.svc.cluster.local"},
                 {"aud", {"ambit"}},
                 {"sub", "system:serviceaccount:" + ns + ":" + sa},
                 {"iat", now - 7200},
                 {"nbf", now - 7200},
                 {"exp", now - 3600},
                 {"kubernetes.io", {{"namespace", ns}, {"serviceaccount", {{"name", sa}}}}}};
  std::string input =
      b64url(json{{"alg", "RS256"}, {"typ", "JWT"}}.dump()) + "." + b64url(claims.dump());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return input + "." + b64url(sig);
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
