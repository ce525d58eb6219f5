// The waypoint on both of its TLS sides against peers whose X.509-SVID breaks a rule
// (common/identity/svid_rules.h): a client tunnelling in with a CA certificate as its leaf is
// refused by the waypoint's HBONE server, and an endpoint presenting a leaf with two URI SANs is
// refused by the waypoint's upstream pool (the request gets 503 UF, the app never sees it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/log_capture.h"
#include "tests/unit/waypoint/proxy_fixture.h"

namespace ambit::waypoint::testing {
namespace {

using namespace std::chrono_literals;
using Spec = test::TestPki::Spec;

class WaypointSvidTest : public WaypointProxyFixture {
 protected:
  WaypointSvidTest() : WaypointProxyFixture("waypoint svid CA") {}
  ~WaypointSvidTest() override { shutdown(20ms); }

  // The seed mesh with its three endpoints answering 200 "ok"; `app` is what they present.
  void start() {
    index_ = buildIndex();
    ASSERT_TRUE(index_);
    for (const char* ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
      listenEndpoint(
          ip, [this](const hbone::ConnectRequest&) -> asio::awaitable<hbone::ConnectOutcome> {
            co_return hbone::TerminateTunnel{
                [this](hbone::HboneStream s) { return serve(std::move(s)); }};
          });
      if (HasFatalFailure()) return;
    }
    startProxy(ProxyServices{}, HttpLimits{});
  }

  // Answers 200 "ok" until the waypoint ends the tunnel (dropping the stream earlier resets it).
  asio::awaitable<void> serve(hbone::HboneStream s) {
    MessageReader reader(s, HttpLimits{});
    for (;;) {
      auto req = co_await reader.readRequest();
      if (!req || !*req) break;
      ++app_requests_;
      HttpResponse r{http::status::ok, 11};
      r.body() = "ok";
      r.keep_alive(true);
      r.prepare_payload();
      if (!co_await writeMessage(s, r)) break;
    }
    s.shutdownWrite();
  }

  // One GET through the waypoint: "<status>" or "ERR <why>".
  std::string get() {
    std::string out;
    run([&]() -> asio::awaitable<void> {
      auto s = co_await tunnel();
      if (!s) {
        out = "ERR " + s.error().message;
        co_return;
      }
      HttpRequest r{http::verb::get, "/", 11};
      r.set(http::field::host, "my-app.default.svc.cluster.local");
      if (!co_await writeMessage(*s, r)) {
        out = "ERR write";
        co_return;
      }
      MessageReader reader(*s, HttpLimits{});
      bool ends = false;
      auto resp = co_await reader.readResponse(false, ends);
      out = resp ? std::to_string(resp->result_int()) : "ERR " + resp.error().message;
    });
    return out;
  }

  int app_requests_ = 0;
};

TEST_F(WaypointSvidTest, ValidSvidsEverywhereServeTheRequest) {
  start();
  test::LogCapture log;
  spdlog::default_logger()->set_level(spdlog::level::debug);
  EXPECT_EQ(get(), "200") << log.text();
  EXPECT_EQ(app_requests_, 1);
}

TEST_F(WaypointSvidTest, TheWaypointRefusesAClientPresentingACaCertificateAsItsLeaf) {
  start();
  Spec ca = Spec::leaf(kClientId);
  ca.basic_constraints = "critical,CA:TRUE";
  test::CertKey bad = pki_.issue(ca);
  client_tls_ = test::makeContext(&bad, pki_.caPem());
  test::LogCapture log;
  EXPECT_THAT(get(), ::testing::StartsWith("ERR"));
  EXPECT_EQ(waypoint_->stats().handshake_failures, 1u);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("SPIFFE rule leaf-not-ca"));
  EXPECT_EQ(app_requests_, 0);
}

TEST_F(WaypointSvidTest, TheWaypointRefusesAnEndpointLeafWithTwoUriSans) {
  Spec two = Spec::leaf(kAppId);
  two.san += ",URI:spiffe://cluster.local/ns/default/sa/admin";
  app_cert_ = pki_.issue(two);
  app_tls_ = test::makeContext(&app_cert_, pki_.caPem());
  start();
  test::LogCapture log;
  spdlog::default_logger()->set_level(spdlog::level::debug);  // the waypoint says why at debug
  EXPECT_EQ(get(), "503");
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].response_flags, "UF");
  EXPECT_THAT(log.text(), ::testing::HasSubstr("SPIFFE rule one-uri-san"));
  EXPECT_EQ(app_requests_, 0);
}

}  // namespace
}  // namespace ambit::waypoint::testing
