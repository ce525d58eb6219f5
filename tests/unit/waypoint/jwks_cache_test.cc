// jwksUri: fetching from a real HTTP server on loopback, refresh after key rotation, keeping
// the last good keys, failing closed when nothing was ever fetched, and the fetch limits.
#include "waypoint/jwks_cache.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "common/async/spawn.h"
#include "tests/support/jwt_signer.h"
#include "tests/unit/waypoint/mesh_fixture.h"
#include "waypoint/request_authn.h"

namespace ambit::waypoint::testing {
namespace {

using namespace std::chrono_literals;
using ambit::test::JwtSigner;
using tcp = asio::ip::tcp;

constexpr char kIssuer[] = "https://issuer.example";

// A JWKS endpoint on 127.0.0.1: answers every GET with `status` and `body` (or, with `hang`,
// never answers); counts requests.
class JwksServer {
 public:
  explicit JwksServer(asio::io_context& ioc)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        uri_("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
             "/jwks.json") {
    spawn(ioc, serve(), "test JWKS server");
  }
  ~JwksServer() { stop(); }
  const std::string& uri() const { return uri_; }
  void stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& s : held_) s.close(ec);
  }

  std::string body;
  http::status status = http::status::ok;
  bool hang = false;
  int requests = 0;

 private:
  asio::awaitable<void> serve() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      boost::beast::flat_buffer buffer;
      HttpRequest req;
      co_await http::async_read(s, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) continue;
      ++requests;
      if (hang) {
        held_.push_back(std::move(s));
        continue;
      }
      HttpResponse r{status, 11};
      r.body() = body;
      r.keep_alive(false);
      r.prepare_payload();
      co_await http::async_write(s, r, asio::redirect_error(asio::use_awaitable, ec));
      s.shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  tcp::acceptor acceptor_;
  std::string uri_;
  std::vector<tcp::socket> held_;
};

class JwksCacheTest : public ::testing::Test {
 protected:
  template <typename T>
  T await(asio::awaitable<T> a) {
    std::optional<T> out;
    asio::co_spawn(ioc_, std::move(a), [&](std::exception_ptr e, T v) {
      if (e) std::rethrow_exception(e);
      out = std::move(v);
    });
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!out && std::chrono::steady_clock::now() < deadline) {
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(20ms);
    }
    EXPECT_TRUE(out) << "did not finish";
    return out ? std::move(*out) : T{};
  }
  // Runs the loop until done() (at most 10 s); returns done().
  bool runUntil(const std::function<bool()>& done) {
    auto until = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < until) {
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(10ms);
    }
    return done();
  }

  // "<kind> <reason>" of authenticating a request carrying `token` to Service my-app.
  std::string authenticate(RequestAuthenticator& authn, const std::string& token) {
    HttpRequest req{http::verb::get, "/", 11};
    req.set(http::field::authorization, "Bearer " + token);
    rbac::Target target;
    target.ns = "default";
    target.service = "my-app";
    AuthnResult r = await(authn.authenticate(index_, target, req));
    switch (r.kind) {
      case AuthnResult::Kind::kAuthenticated:
        return "ok " + r.jwt->principal();
      case AuthnResult::Kind::kRejected:
        return "401 " + r.reason;
      case AuthnResult::Kind::kNoToken:
        break;
    }
    return "no token";
  }

  void useJwksUri(const std::string& uri) {
    index_ = buildIndex(R"(
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: remote, namespace: default}
spec:
  targetRefs: [{kind: Service, name: my-app}]
  jwtRules: [{issuer: ")" +
                        std::string(kIssuer) + R"(", jwksUri: ")" + uri + R"("}]
)");
  }

  static std::string token(const JwtSigner& key) {
    return key.sign(JwtSigner::claims(kIssuer, "alice"));
  }

  asio::io_context ioc_;
  std::shared_ptr<const MeshIndex> index_;
};

TEST_F(JwksCacheTest, FetchesRefreshesAfterRotationAndKeepsLastGoodKeys) {
  JwtSigner old_key = JwtSigner::ec("old"), new_key = JwtSigner::ec("new");
  JwksServer server(ioc_);
  server.body = JwtSigner::jwks(old_key);
  JwksFetchOptions options;
  options.refresh_interval = 200ms;
  options.initial_backoff = 50ms;
  JwksCache cache(ioc_.get_executor(), options);
  RequestAuthenticator authn(&cache);
  useJwksUri(server.uri());
  EXPECT_EQ(authenticate(authn, token(old_key)), "ok https://issuer.example/alice");
  EXPECT_EQ(authenticate(authn, token(new_key)),
            "401 Jwks doesn't have key to match kid or alg from Jwt");
  server.body = JwtSigner::jwks(new_key);  // rotation
  const int fetched = server.requests;
  // Two more fetches: the second starts after the first one's keys were installed.
  ASSERT_TRUE(runUntil([&] { return server.requests >= fetched + 2; }));
  EXPECT_EQ(authenticate(authn, token(new_key)), "ok https://issuer.example/alice");
  EXPECT_EQ(authenticate(authn, token(old_key)),
            "401 Jwks doesn't have key to match kid or alg from Jwt");
  server.body = "{not json";  // a broken refresh keeps the last good keys
  ASSERT_TRUE(runUntil([&] { return !cache.lastError(server.uri()).empty(); }));
  EXPECT_EQ(cache.lastError(server.uri()), "Jwks is an invalid JSON");
  EXPECT_EQ(authenticate(authn, token(new_key)), "ok https://issuer.example/alice");
  server.stop();  // unreachable: still the last good keys
  EXPECT_TRUE(runUntil([&] { return cache.lastError(server.uri()).find("connect") == 0; }))
      << cache.lastError(server.uri());
  EXPECT_EQ(authenticate(authn, token(new_key)), "ok https://issuer.example/alice");
}

TEST_F(JwksCacheTest, UnreachableOrBrokenJwksUriFailsClosed) {
  JwksFetchOptions options;
  options.timeout = 500ms;
  JwksCache cache(ioc_.get_executor(), options);
  RequestAuthenticator authn(&cache);
  JwtSigner key = JwtSigner::ec("k");
  JwksServer closed(ioc_);
  const std::string dead_uri = closed.uri();
  closed.stop();  // nothing listens on its port any more
  useJwksUri(dead_uri);
  EXPECT_EQ(authenticate(authn, token(key)), "401 Jwks remote fetch is failed");
  EXPECT_NE(cache.lastError(dead_uri).find("connect: Connection refused"), std::string::npos)
      << cache.lastError(dead_uri);
  useJwksUri("ftp://127.0.0.1/jwks");
  EXPECT_EQ(authenticate(authn, token(key)), "401 Jwks remote fetch is failed");
  EXPECT_EQ(cache.lastError("ftp://127.0.0.1/jwks"),
            "bad URI: unsupported scheme (expected http:// or https://)");
  // A request without a token still passes.
  HttpRequest plain{http::verb::get, "/", 11};
  rbac::Target target;
  target.ns = "default";
  target.service = "my-app";
  EXPECT_EQ(await(authn.authenticate(index_, target, plain)).kind, AuthnResult::Kind::kNoToken);
}

TEST_F(JwksCacheTest, FetchIsBoundedInSizeAndTime) {
  JwksServer server(ioc_);
  JwksFetchOptions options;
  options.timeout = 300ms;
  options.max_bytes = 1024;
  const auto fetch = [&](std::string uri) {
    return await([&]() -> asio::awaitable<std::string> {
      auto r = co_await fetchUri(ioc_.get_executor(), uri, options);
      co_return r ? "ok " + *r : r.error().message;
    }());
  };
  server.body = "{\"keys\":[]}";
  EXPECT_EQ(fetch(server.uri()), "ok {\"keys\":[]}");
  server.body = std::string(2048, 'x');
  EXPECT_EQ(fetch(server.uri()), "response larger than 1024 bytes");
  server.status = http::status::not_found;
  server.body = "";
  EXPECT_EQ(fetch(server.uri()), "HTTP status 404");
  server.hang = true;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch(server.uri()), "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  for (const char* bad : {"http://", "http://host:99999/", "http://[::1/", "http://u@h/"}) {
    EXPECT_EQ(fetch(bad).rfind("bad URI: ", 0), 0u) << bad << ": " << fetch(bad);
  }
}

TEST_F(JwksCacheTest, RulesApplyOnlyToTheServiceGatewayOrClassTheyTarget) {
  JwtSigner key = JwtSigner::ec("k");
  RequestAuthenticator authn(nullptr);
  const auto kind = [&](const std::string& ref_ns, const std::string& ref,
                        const std::string& gateway, const std::string& gateway_class) {
    index_ = buildIndex(R"(
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra, namespace: )" +
                        ref_ns + R"(}
spec:
  targetRefs: [)" + ref +
                        R"(]
  jwtRules: [{issuer: x, jwks: ')" +
                        JwtSigner::jwks(key) + R"('}]
)");
    HttpRequest req{http::verb::get, "/", 11};
    req.set(http::field::authorization, "Bearer garbage");
    rbac::Target target;
    target.ns = "default";
    target.service = "my-app";
    target.gateway = gateway;
    target.gateway_class = gateway_class;
    return await(authn.authenticate(index_, target, req)).kind;
  };
  using K = AuthnResult::Kind;
  EXPECT_EQ(kind("default", "{kind: Service, name: my-app}", "", ""), K::kRejected);
  EXPECT_EQ(kind("default", "{kind: Service, name: my-app-v2}", "", ""), K::kNoToken);
  EXPECT_EQ(kind("other", "{kind: Service, name: my-app}", "", ""), K::kNoToken);
  EXPECT_EQ(kind("default", "{kind: Gateway, name: waypoint}", "waypoint", ""), K::kRejected);
  EXPECT_EQ(kind("default", "{kind: Gateway, name: waypoint}", "", ""), K::kNoToken);
  EXPECT_EQ(
      kind("istio-system", "{kind: GatewayClass, name: istio-waypoint}", "", "istio-waypoint"),
      K::kRejected);
  EXPECT_EQ(kind("default", "{kind: GatewayClass, name: istio-waypoint}", "", "istio-waypoint"),
            K::kNoToken);
}

TEST_F(JwksCacheTest, ConfigChangeWhileARequestWaitsForItsJwksIsSafe) {
  JwksServer server(ioc_);
  server.hang = true;
  JwksFetchOptions options;
  options.timeout = 300ms;
  JwksCache cache(ioc_.get_executor(), options);
  RequestAuthenticator authn(&cache);
  useJwksUri(server.uri());
  JwtSigner key = JwtSigner::ec("k");
  std::optional<AuthnResult> first;
  auto first_request = std::make_shared<HttpRequest>(http::verb::get, "/", 11);
  first_request->set(http::field::authorization, "Bearer " + token(key));
  rbac::Target target;
  target.ns = "default";
  target.service = "my-app";
  asio::co_spawn(ioc_, authn.authenticate(index_, target, *first_request),
                 [&](std::exception_ptr, AuthnResult r) { first = std::move(r); });
  ASSERT_TRUE(runUntil([&] { return server.requests > 0; }));
  useJwksUri("http://127.0.0.1:1/other");  // the first request is suspended in get()
  EXPECT_EQ(authenticate(authn, token(key)), "401 Jwks remote fetch is failed");
  ASSERT_TRUE(runUntil([&] { return first.has_value(); }));
  EXPECT_EQ(first->reason, "Jwks remote fetch is failed");
}

}  // namespace
}  // namespace ambit::waypoint::testing

namespace ambit::waypoint::testing {
namespace {

TEST_F(JwksCacheTest, ResultNamesTheRuleAndAnUnfetchedJwksUri) {
  JwtSigner key = JwtSigner::ec("k");
  RequestAuthenticator authn(nullptr);  // no JwksCache: a jwksUri never has keys
  index_ = buildIndex(R"(
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra, namespace: default}
spec:
  targetRefs: [{kind: Service, name: my-app}]
  jwtRules:
  - {issuer: remote, jwksUri: "https://idp.example/jwks"}
  - {issuer: )" + std::string(kIssuer) +
                      R"(, jwks: ')" + JwtSigner::jwks(key) + R"('}
)");
  const auto run = [&](const std::string& token) {
    HttpRequest req{http::verb::get, "/", 11};
    req.set(http::field::authorization, "Bearer " + token);
    rbac::Target target;
    target.ns = "default";
    target.service = "my-app";
    return await(authn.authenticate(index_, target, req));
  };
  AuthnResult ok = run(token(key));
  EXPECT_EQ(ok.kind, AuthnResult::Kind::kAuthenticated);
  EXPECT_EQ(ok.rule, "RequestAuthentication default/ra jwtRules[1]");
  EXPECT_EQ(ok.unfetched_jwks_uri, "");
  AuthnResult remote = run(key.sign(JwtSigner::claims("remote", "bob")));
  EXPECT_EQ(remote.kind, AuthnResult::Kind::kRejected);
  EXPECT_EQ(remote.reason, "Jwks remote fetch is failed");
  EXPECT_EQ(remote.rule, "RequestAuthentication default/ra jwtRules[0]");
  EXPECT_EQ(remote.unfetched_jwks_uri, "https://idp.example/jwks");
  AuthnResult unknown = run(key.sign(JwtSigner::claims("nobody", "eve")));
  EXPECT_EQ(unknown.reason, "Jwt issuer is not configured");
  EXPECT_EQ(unknown.rule, "");
  JwtSigner other = JwtSigner::ec("k");
  AuthnResult forged = run(other.sign(JwtSigner::claims(kIssuer, "mallory")));
  EXPECT_EQ(forged.kind, AuthnResult::Kind::kRejected);
  EXPECT_EQ(forged.rule, "RequestAuthentication default/ra jwtRules[1]");
  EXPECT_EQ(forged.unfetched_jwks_uri, "");
}

}  // namespace
}  // namespace ambit::waypoint::testing
