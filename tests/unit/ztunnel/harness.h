#pragma once
// A ztunnel data path in a test: the real proxies over fakes of their seams (fakes.h), one
// io_context run by the test thread, a small mesh from YAML, and loopback sockets.

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/test_data.h"
#include "tests/unit/ztunnel/fakes.h"
#include "ztunnel/connection_tracker.h"
#include "ztunnel/inbound_proxy.h"
#include "ztunnel/metrics.h"
#include "ztunnel/outbound_proxy.h"
#include "ztunnel/pod.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit::ztunnel::testing {

// The tests' mesh is tests/data/mesh.yaml (namespace default: pod client 10.1.2.3 with
// service account client; Service my-app 10.96.0.10:80 -> 8080 over pods my-app-v1 127.0.0.2,
// my-app-v1b 127.0.0.4, my-app-v2 127.0.0.3, service account my-app, label app=my-app) plus
// Service reviews 10.96.0.30:9080 bound to waypoint `waypoint` (10.1.0.9, sa waypoint).
extern const char kWaypointYaml[];

// The PodInfo the agent hands over for a pod of namespace default.
v1::PodInfo podInfo(const std::string& name, const std::string& service_account,
                    const std::vector<std::string>& ips);

// A pod as the pod registry opens it; with_cert: its certificate is already issued.
std::shared_ptr<Pod> makePod(const std::string& name, const std::string& service_account,
                             const std::vector<std::string>& ips, bool with_cert = true);

// What a client saw: the bytes it read until the connection ended, and how it ended
// (eof: closed; connection_reset: RST).
struct Exchange {
  std::string received;
  boost::system::error_code end;
};

// Writes `send` and half-closes (unless it is empty), then reads until the connection ends.
boost::asio::awaitable<Exchange> exchange(boost::asio::ip::tcp::socket& socket, std::string send);

class ProxyTest : public ::testing::Test {
 protected:
  using tcp = boost::asio::ip::tcp;

  // Translates the tests' mesh plus `extra_yaml` and makes it the configuration in force.
  void applyMesh(const std::string& extra_yaml = "");
  // Runs the io_context until done() holds (fails the test after 10 s).
  bool runUntil(const std::function<bool()>& done);
  // Runs `op` to completion on the io_context.
  template <typename T>
  T run(boost::asio::awaitable<T> op);
  // Whether a connection waits to be accepted on `acceptor` (accepts it if so).
  bool hasPendingConnection(tcp::acceptor& acceptor);
  // A connected loopback pair: {client side, accepted side}.
  std::pair<tcp::socket, tcp::socket> connectedPair();
  // A loopback listener on an ephemeral port.
  tcp::acceptor listenLoopback();
  // Sum of a counter family's series whose labels include `match`.
  double counter(const std::string& family,
                 const std::map<std::string, std::string>& match = {}) const;

  boost::asio::io_context io;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  admin::HealthMetrics health{*registry};
  TcpMetrics metrics{*registry, &health};
  ActiveConfig config;
  FakeOriginalDst original_dst;
  LoopbackSockets sockets;
  FakeDialer dialer;
  RecordingGate gate;
  ConnectionTracker tracker;
  OutboundProxy outbound{
      io, original_dst, sockets, dialer, config, metrics, admin::AccessLogFormat::kText};
  InboundProxy inbound{io, gate, sockets, config, metrics, tracker, admin::AccessLogFormat::kText};
};

template <typename T>
T ProxyTest::run(boost::asio::awaitable<T> op) {
  std::optional<T> out;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    failure = e;
    out = std::move(value);
  });
  runUntil([&] { return out.has_value(); });
  if (failure) std::rethrow_exception(failure);
  if (!out) throw std::runtime_error("the operation did not complete");
  return std::move(*out);
}

}  // namespace ambit::ztunnel::testing
