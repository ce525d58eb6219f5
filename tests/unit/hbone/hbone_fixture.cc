#include "tests/unit/hbone/hbone_fixture.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/async/spawn.h"

namespace ambit::hbone::testing {
namespace {

using boost::system::error_code;
constexpr auto kUse = asio::use_awaitable;

asio::awaitable<void> echoSession(tcp::socket s) {
  std::vector<char> buf(64 << 10);
  error_code ec;
  for (;;) {
    size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
    if (ec) break;
    co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::redirect_error(kUse, ec));
    if (ec) break;
  }
  if (ec == asio::error::eof) s.shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> summarySession(tcp::socket s) {
  std::vector<char> buf(64 << 10);
  error_code ec;
  uint64_t total = 0;
  for (;;) {
    size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(kUse, ec));
    total += n;
    if (ec) break;
  }
  if (ec != asio::error::eof) co_return;
  std::string reply = "got " + std::to_string(total);
  co_await asio::async_write(s, asio::buffer(reply), asio::redirect_error(kUse, ec));
  s.shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> upstreamLoop(std::shared_ptr<tcp::acceptor> acceptor,
                                   UpstreamSession session) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acceptor->async_accept(asio::redirect_error(kUse, ec));
    if (ec) co_return;
    spawn(acceptor->get_executor(), session(std::move(s)), "test upstream connection");
  }
}

}  // namespace

HboneFixture::HboneFixture()
    : server_cert_(pki_.issue(kServerId)), client_cert_(pki_.issue(kClientId)) {
  server_tls_ = makeContext(&server_cert_, pki_.caPem());
  client_tls_ = makeContext(&client_cert_, pki_.caPem());
  echo_port_ = startUpstream(echoSession);
  summary_port_ = startUpstream(summarySession);
}

HboneFixture::~HboneFixture() {
  if (server_) server_->close();
  for (auto& a : upstreams_) a->close();
  ioc_.restart();
  ioc_.run_for(20ms);
  server_.reset();
}

uint16_t HboneFixture::startUpstream(UpstreamSession session) {
  auto acceptor =
      std::make_shared<tcp::acceptor>(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  upstreams_.push_back(acceptor);
  spawn(ioc_, upstreamLoop(acceptor, std::move(session)), "test upstream");
  upstream_ports_.push_back(acceptor->local_endpoint().port());
  return upstream_ports_.back();
}

asio::awaitable<ConnectOutcome> HboneFixture::handleConnect(const ConnectRequest& req) {
  requests_.push_back(req);
  if (std::find(upstream_ports_.begin(), upstream_ports_.end(), req.target.port()) ==
      upstream_ports_.end()) {
    co_return 503;
  }
  tcp::socket upstream(ioc_);
  error_code ec;
  co_await upstream.async_connect(req.target, asio::redirect_error(kUse, ec));
  if (ec) co_return 503;
  if (answer_splice_to_) {
    co_return SpliceTo{std::move(upstream),
                       [this](const SpliceResult& r) { spliced_to_.push_back(r); }};
  }
  co_return std::move(upstream);
}

void HboneFixture::startServer(ServerOptions options, uint16_t port) {
  options.on_tunnel_closed = [this](const ConnectRequest&, const SpliceResult& r) {
    tunnels_.push_back(r);
  };
  server_ = std::make_unique<HboneServer>(
      ioc_.get_executor(), *server_tls_, spiffeVerifier(kTrustDomain),
      [this](const ConnectRequest& req) { return handleConnect(req); }, std::move(options));
  tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  server_address_ = acceptor.local_endpoint();
  Status st = server_->listen(std::move(acceptor));
  ASSERT_TRUE(st) << st.message();
}

std::unique_ptr<HboneClientPool> HboneFixture::makePool(PoolOptions options) {
  return std::make_unique<HboneClientPool>(ioc_.get_executor(), spiffeVerifier(kTrustDomain),
                                           std::move(options));
}

Destination HboneFixture::destination() const {
  Destination d;
  d.source_identity = kClientId;
  d.tls = client_tls_;
  d.address = server_address_;
  d.expected_server_ids = {kServerId};
  return d;
}

TunnelRequest HboneFixture::request(uint16_t upstream_port) const {
  TunnelRequest r;
  r.authority = "127.0.0.1:" + std::to_string(upstream_port);
  r.source = asio::ip::make_address("10.1.2.3");
  return r;
}

void HboneFixture::run(std::function<asio::awaitable<void>()> body, std::chrono::seconds timeout) {
  auto done = std::make_shared<bool>(false);
  auto error = std::make_shared<std::exception_ptr>();
  asio::co_spawn(ioc_, body(), [done, error](std::exception_ptr e) {
    *done = true;
    *error = e;
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!*done && std::chrono::steady_clock::now() < deadline) {
    if (ioc_.stopped()) ioc_.restart();
    ioc_.run_one_for(50ms);
  }
  ASSERT_TRUE(*done) << "test body did not finish within " << timeout.count() << "s";
  if (*error) std::rethrow_exception(*error);
}

asio::awaitable<void> HboneFixture::sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(ioc_, d);
  error_code ec;
  co_await t.async_wait(asio::redirect_error(kUse, ec));
}

asio::awaitable<std::string> HboneFixture::readAll(HboneStream& stream) {
  std::string out;
  std::vector<char> buf(64 << 10);
  for (;;) {
    auto n = co_await stream.read(asio::buffer(buf));
    if (!n) co_return "ERR:" + n.error().message;
    if (*n == 0) co_return out;
    out.append(buf.data(), *n);
  }
}

}  // namespace ambit::hbone::testing
