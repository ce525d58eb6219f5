#pragma once
// Outbound HBONE as the outbound proxy sees it: dial a tunnel to a peer's HBONE endpoint, then
// carry the app's connection through it. PoolTunnelDialer is the production implementation,
// a thin adapter over hbone::HboneClientPool (pooled mTLS HTTP/2 connections).
//
// Thread: the data thread only (the pool's executor); tunnels belong to it too.
// Lifetime: the dialer must outlive every dial in flight and every tunnel it returned.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "common/hbone/client_pool.h"
#include "common/hbone/stream.h"
#include "common/status.h"

namespace ambit::ztunnel {

// One open tunnel; destroying it before it is spliced resets it.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  // Copies both ways between the tunnel and `app` until both directions are closed, then calls
  // `done` (hbone::HboneStream::splice: not called if the executor is destroyed first). Takes
  // the tunnel's stream: call it once.
  virtual void splice(boost::asio::ip::tcp::socket app, hbone::SpliceDone done) = 0;
};

class TunnelDialer {
 public:
  virtual ~TunnelDialer() = default;
  // Completes once the peer accepted the CONNECT. An error with code ECONNRESET means the peer
  // reset the stream without any response: the request never reached the destination.
  // The arguments must stay alive until the dial completes.
  virtual boost::asio::awaitable<Result<std::unique_ptr<Tunnel>>> dial(
      const hbone::Destination& destination, const hbone::TunnelRequest& request) = 0;
};

class PoolTunnelDialer final : public TunnelDialer {
 public:
  explicit PoolTunnelDialer(hbone::HboneClientPool& pool) : pool_(pool) {}
  boost::asio::awaitable<Result<std::unique_ptr<Tunnel>>> dial(
      const hbone::Destination& destination, const hbone::TunnelRequest& request) override;

 private:
  hbone::HboneClientPool& pool_;
};

}  // namespace ambit::ztunnel
