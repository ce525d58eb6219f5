// End-to-end: RequestAuthentication + AuthorizationPolicy (requestPrincipals) on Service
// my-app, enforced by the waypoint of a lab brought up with --waypoint. The unchanged client
// pod curls http://10.96.0.10/ with tokens signed by keys the test generates; one issuer's
// keys come inline (jwks), another's from a jwksUri served by this test from inside the
// client pod's network namespace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/async/spawn.h"
#include "common/netns.h"
#include "tests/support/jwt_signer.h"
#include "tests/support/waypoint_lab.h"
#include "waypoint/http_codec.h"

namespace ambit::e2e {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;
using test::CommandOutput;
using test::JwtSigner;

const std::string kConfigFile = "50-jwt-test.yaml";
constexpr char kIssuer[] = "https://issuer.e2e";
constexpr char kRemoteIssuer[] = "https://remote.e2e";
constexpr uint16_t kJwksPort = 18080;

// Serves one JWKS document over HTTP from a listening socket created inside a lab netns (the
// socket stays in that netns; the serving thread does not). Stops and joins in the destructor.
class NetnsJwksServer {
 public:
  NetnsJwksServer(const std::string& netns_path, uint16_t port, std::string body)
      : body_(std::move(body)), acceptor_(io_) {
    auto ns = openNetns(netns_path);
    if (!ns) {
      error_ = ns.error().message;
      return;
    }
    NetnsGuard guard(ns->get());
    if (!guard.ok()) {
      error_ = guard.status().message();
      return;
    }
    boost::system::error_code ec;
    asio::ip::tcp::endpoint ep(asio::ip::address_v4::any(), port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(16, ec);
    if (ec) {
      error_ = "listen on port " + std::to_string(port) + ": " + ec.message();
      return;
    }
    spawn(io_, serve(), "test JWKS server");
    thread_ = std::thread([this] { io_.run(); });
  }
  ~NetnsJwksServer() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  int requests() const { return requests_; }

 private:
  asio::awaitable<void> serve() {
    for (;;) {
      boost::system::error_code ec;
      auto s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      boost::beast::flat_buffer buffer;
      waypoint::HttpRequest req;
      co_await http::async_read(s, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) continue;
      ++requests_;
      waypoint::HttpResponse r{http::status::ok, 11};
      r.set(http::field::content_type, "application/json");
      r.body() = body_;
      r.keep_alive(false);
      r.prepare_payload();
      co_await http::async_write(s, r, asio::redirect_error(asio::use_awaitable, ec));
      s.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    }
  }

  std::string body_;
  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::string error_;
};

const JwtSigner& rsaKey() {
  static const JwtSigner k = JwtSigner::rsa("e2e-rsa");
  return k;
}
const JwtSigner& ecKey() {
  static const JwtSigner k = JwtSigner::ec("e2e-ec");
  return k;
}
const JwtSigner& remoteKey() {
  static const JwtSigner k = JwtSigner::ec("e2e-remote");
  return k;
}

class JwtE2eTest : public test::WaypointLabTest {
 public:
  static void SetUpTestSuite() { upLab("jwte2e"); }
  static void TearDownTestSuite() {
    if (lab_ != nullptr) lab_->removeConfig(kConfigFile);
    WaypointLabTest::TearDownTestSuite();
  }

 protected:
  static std::string podNetnsPath(const std::string& pod) {
    const json st = lab_->status();  // alive for the loop
    for (const auto& p : st["pods"]) {
      if (p["name"] == pod) return p["netns_path"];
    }
    return "";
  }

  // Writes the RequestAuthentication + AuthorizationPolicy and waits until the waypoint runs
  // with them.
  static void applyConfig(const std::string& jwks_uri) {
    const std::string yaml = R"(apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  jwtRules:
  - issuer: )" + std::string(kIssuer) +
                             R"(
    audiences: [my-app]
    jwks: ')" + JwtSigner::jwks(rsaKey(), ecKey()) +
                             R"('
  - issuer: )" + std::string(kRemoteIssuer) +
                             R"(
    jwksUri: )" + jwks_uri + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: my-app}]
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
)";
    applyWaypointConfig(kConfigFile, yaml, "1 authorization policies, 1 request authentications");
  }

  // curl from the client pod; returns "<body>\n<status>".
  static std::string get(const std::string& token, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"curl", "-s", "-m", "10", "-w", "\n%{http_code}"};
    if (!token.empty()) {
      argv.push_back("-H");
      argv.push_back("Authorization: Bearer " + token);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("http://10.96.0.10/");
    CommandOutput out = lab_->exec("client", argv);
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return out.out;
  }

  static std::string status(const std::string& response) {
    return response.substr(response.rfind('\n') + 1);
  }
};

TEST_F(JwtE2eTest, ValidTokensPassInvalidOnesGet401AndNoTokenIsDenied) {
  const std::string client_ip = lab_->podIp("client");
  NetnsJwksServer jwks(podNetnsPath("client"), kJwksPort, JwtSigner::jwks(remoteKey()));
  ASSERT_EQ(jwks.error(), "");
  applyConfig("http://" + client_ip + ":" + std::to_string(kJwksPort) + "/jwks.json");

  const json good = JwtSigner::claims(kIssuer, "alice", "my-app");
  EXPECT_EQ(status(get(rsaKey().sign(good))), "200");
  EXPECT_EQ(status(get(ecKey().sign(good))), "200");
  EXPECT_EQ(get(""), "RBAC: access denied\n403");

  json expired = good;
  expired["exp"] = expired["iat"].get<int64_t>() - 3600;
  EXPECT_EQ(get(rsaKey().sign(expired)), "Jwt is expired\n401");
  EXPECT_EQ(get(rsaKey().sign(JwtSigner::claims("https://evil.e2e", "alice", "my-app"))),
            "Jwt issuer is not configured\n401");
  EXPECT_EQ(get(rsaKey().sign(JwtSigner::claims(kIssuer, "alice", "other-app"))),
            "Audiences in Jwt are not allowed\n401");
  std::string tampered = rsaKey().sign(good);
  char& c = tampered[tampered.size() - 8];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(get(tampered), "Jwt verification fails\n401");
  EXPECT_EQ(get(JwtSigner::rsa("stranger").sign(good)),
            "Jwks doesn't have key to match kid or alg from Jwt\n401");
  std::string headers = get(tampered, {"-D", "-"});
  EXPECT_NE(headers.find("WWW-Authenticate: Bearer realm=\"http://10.96.0.10/\", "
                         "error=\"invalid_token\""),
            std::string::npos)
      << headers;

  // The issuer whose keys come from the jwksUri served inside the client pod's netns.
  EXPECT_EQ(status(get(remoteKey().sign(JwtSigner::claims(kRemoteIssuer, "bob")))), "200")
      << waypointLog();
  EXPECT_GE(jwks.requests(), 1);
  EXPECT_EQ(get(ecKey().sign(JwtSigner::claims(kRemoteIssuer, "bob"))),
            "Jwks doesn't have key to match kid or alg from Jwt\n401");
}

TEST_F(JwtE2eTest, UnreachableJwksUriFailsClosedAndIsLogged) {
  // Nothing listens on this port in the client pod.
  const std::string uri = "http://" + lab_->podIp("client") + ":18081/jwks.json";
  applyConfig(uri);
  EXPECT_EQ(get(remoteKey().sign(JwtSigner::claims(kRemoteIssuer, "bob"))),
            "Jwks remote fetch is failed\n401");
  EXPECT_EQ(status(get(rsaKey().sign(JwtSigner::claims(kIssuer, "alice", "my-app")))), "200");
  const std::string log = waypointLog();
  EXPECT_NE(log.find("RequestAuthentication default/jwt: fetching jwksUri " + uri + " failed"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace ambit::e2e
