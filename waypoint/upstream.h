#pragma once
// UpstreamPool: sends one request to an endpoint over a fresh or reused HBONE tunnel (the
// endpoint's ztunnel on <pod ip>:15008, :authority <pod ip>:<target port>, server id the
// endpoint's SPIFFE id) and reads the response. HTTP/1.1: a tunnel whose exchange ended
// cleanly with keep-alive goes back to an idle list for its authority. HTTP/2 (the target's
// Service port declares it; cleartext with prior knowledge inside the tunnel): one H2cConnection
// per endpoint carries concurrent requests as streams, up to the endpoint's stream limit. A
// reused tunnel or connection that turns out to be closed is replaced by a fresh one once,
// transparently.
//
// Thread model: one pool per data thread, on the executor of its HboneClientPool.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/hbone/client_pool.h"
#include "common/status.h"
#include "waypoint/h2c_connection.h"
#include "waypoint/http_codec.h"

namespace ambit::waypoint {

struct UpstreamTarget {
  asio::ip::tcp::endpoint hbone;      // <pod ip>:15008
  asio::ip::tcp::endpoint authority;  // <pod ip>:<target port>
  std::string identity;               // expected SPIFFE id of the endpoint
  bool http2 = false;                 // speak HTTP/2 to the application
};

// Our own identity and its client TLS context (null until the certificate is issued).
struct UpstreamCredentials {
  std::string identity;
  std::shared_ptr<asio::ssl::context> tls;
};

struct UpstreamResult {
  HttpResponse response;
  uint64_t bytes_received = 0;
};

class UpstreamPool {
 public:
  UpstreamPool(hbone::HboneClientPool& pool, std::function<UpstreamCredentials()> credentials,
               HttpLimits limits, size_t max_idle_per_endpoint = 32)
      : pool_(pool),
        credentials_(std::move(credentials)),
        limits_(limits),
        max_idle_(max_idle_per_endpoint) {}

  // `timeout` 0: none. A connection failure has code ECONNREFUSED (or the transport's code),
  // a timeout ETIMEDOUT.
  asio::awaitable<Result<UpstreamResult>> exchange(const UpstreamTarget& target,
                                                   const HttpRequest& request,
                                                   std::chrono::milliseconds timeout);
  size_t idleCount() const;
  // Requests in flight to the endpoint with this address.
  size_t activeRequests(const asio::ip::address& ip) const;

 private:
  struct Tunnel;
  // An endpoint's connections: its authority and the identity it must present.
  using Key = std::pair<asio::ip::tcp::endpoint, std::string>;
  asio::awaitable<Result<hbone::HboneStream>> openStream(const UpstreamTarget& target);
  asio::awaitable<Result<std::shared_ptr<Tunnel>>> open(const UpstreamTarget& target);
  asio::awaitable<Result<UpstreamResult>> exchangeHttp2(const Key& key,
                                                        const UpstreamTarget& target,
                                                        const HttpRequest& request,
                                                        std::chrono::milliseconds timeout);
  asio::awaitable<Result<std::shared_ptr<H2cConnection>>> http2Connection(
      const Key& key, const UpstreamTarget& target, bool& reused);
  asio::awaitable<Result<UpstreamResult>> tryOnce(const std::shared_ptr<Tunnel>& tunnel,
                                                  const HttpRequest& request,
                                                  std::chrono::milliseconds timeout,
                                                  bool& reusable);

  hbone::HboneClientPool& pool_;
  std::function<UpstreamCredentials()> credentials_;
  HttpLimits limits_;
  size_t max_idle_;
  std::map<Key, std::vector<std::shared_ptr<Tunnel>>> idle_;
  struct H2Slot {
    std::shared_ptr<H2cConnection> connection;
    bool opening = false;  // a tunnel for a new connection is being opened
    std::shared_ptr<Signal> opened;
  };
  std::map<Key, H2Slot> h2_;
  std::map<asio::ip::address, size_t> active_;
};

}  // namespace ambit::waypoint
