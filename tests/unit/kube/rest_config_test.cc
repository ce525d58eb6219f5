#include "common/kube/rest_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace ambit::kube {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& text) {
    return dir_.write(name, text);
  }
  test::TempDir dir_{"ambit-kubeconfig"};
};

// "CA PEM" and friends, base64 encoded.
constexpr const char* kCaB64 = "Q0EgUEVN";    // "CA PEM"
constexpr const char* kCertB64 = "Q0VSVA==";  // "CERT"
constexpr const char* kKeyB64 = "S0VZIQ==";   // "KEY!"

TEST_F(KubeconfigTest, InlineDataAndCurrentContext) {
  auto p = write("config", fmt::format(R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {}
contexts:
- name: admin
  context: {{cluster: c1, user: u1}}
- name: other
  context: {{cluster: c2, user: u2}}
users:
- name: u1
  user:
    client-certificate-data: {}
    client-key-data: {}
)",
                                       kCaB64, kCertB64, kKeyB64));
  auto c = loadKubeconfig(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, "6443");
  EXPECT_EQ(c->ca_pem, "CA PEM");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY!");
  EXPECT_NE(c->source.find("context admin"), std::string::npos);
}

TEST_F(KubeconfigTest, FilesRelativeToTheKubeconfigAndTokenFile) {
  write("ca.crt", "FILE CA");
  write("token", "tok-1\n");
  auto p = write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://[::1]:8443", certificate-authority: ca.crt}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {tokenFile: token}}]
)");
  auto c = loadKubeconfig(p);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, "8443");
  EXPECT_EQ(c->ca_pem, "FILE CA");
  EXPECT_EQ(c->token_file, dir_.path() / "token");

  Credentials creds(*c, std::chrono::seconds(3600));
  auto t = creds.token();
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "tok-1");  // trailing newline stripped
  write("token", "tok-2");
  EXPECT_EQ(*creds.token(), "tok-1");  // cached until the refresh interval or a 401
  creds.invalidate();
  EXPECT_EQ(*creds.token(), "tok-2");
  fs::remove(dir_.path() / "token");  // mid-rotation: keep the last good token
  creds.invalidate();
  EXPECT_EQ(*creds.token(), "tok-2");
}

TEST_F(KubeconfigTest, ZeroRefreshRereadsEveryTime) {
  write("token", "a");
  RestConfig c;
  c.token_file = dir_.path() / "token";
  Credentials creds(c, std::chrono::seconds(0));
  EXPECT_EQ(*creds.token(), "a");
  write("token", "b");
  EXPECT_EQ(*creds.token(), "b");
}

TEST_F(KubeconfigTest, ErrorsNameTheFileAndTheField) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"[]", "top level is not a map"},
      {"clusters: []", "no current-context"},
      {"current-context: x\ncontexts: []", "contexts 'x' not found"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: []",
       "clusters 'c' not found"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'http://h:1'}}]",
       "only https://"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h:99999'}}]",
       "bad port"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority-data: '***'}}]",
       "certificate-authority-data: not base64"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h:1', certificate-authority: nope.crt}}]",
       "certificate-authority: read"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
       "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]",
       "go together"},
      {"{{{", "kubeconfig"},
  };
  for (const auto& c : cases) {
    auto p = write("bad", c.text);
    auto r = loadKubeconfig(p);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(p.string()), std::string::npos) << r.error().message;
  }
}

TEST_F(KubeconfigTest, InClusterNeedsEnvironmentAndMount) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  auto r = inClusterConfig(dir_.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  r = inClusterConfig(dir_.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("token does not exist"), std::string::npos) << r.error().message;
  write("token", "t");
  write("ca.crt", "c");
  r = inClusterConfig(dir_.path());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->host, "fd00::1");
  EXPECT_EQ(r->port, "443");
  Credentials creds(*r);
  EXPECT_EQ(*creds.token(), "t");
  EXPECT_EQ(*creds.caPem(), "c");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace ambit::kube
