#include "common/hbone/client_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "common/async/signal.h"
#include "common/async/spawn.h"
#include "common/hbone/stream_state.h"
#include "common/hbone/tls_transport.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace ambit::hbone {

using asio::ip::tcp;
using boost::system::error_code;
using detail::HboneConnection;

namespace {

// One pooled connection; `session` is null while it is being established.
struct PooledConnection {
  explicit PooledConnection(const asio::any_io_executor& ex) : ready(ex) {}
  std::shared_ptr<HboneConnection> session;
  Signal ready;
  Status failure;
  uint32_t reserved = 0;  // callers that picked this connection and have not submitted yet
  bool connecting = true;
  bool settings_received = false;
  uint64_t ping_acks = 0;
};

// The TLS connection being set up, plus what its timeout handler needs; shared so the handler
// stays valid.
struct Dial {
  std::unique_ptr<TlsTransport> tls;
  PeerVerification verification;
  bool done = false;
  bool timed_out = false;
};

// Closes the connection if `dial` is not done when the timer fires.
void armTimeout(asio::steady_timer& timer, const std::shared_ptr<Dial>& dial) {
  dial->done = false;
  timer.async_wait([dial](error_code ec) {
    if (!ec && !dial->done) {
      dial->timed_out = true;
      dial->tls->close();
    }
  });
}

Result<int> plainSocket(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("socket");
  return fd;
}

// A CONNECT the server never processed is safe to send again (RFC 9113 §8.7): one refused with
// REFUSED_STREAM, which nghttp2 also reports for a stream above a GOAWAY's last-stream-id (the
// server began to drain while the request was on its way), or one the connection no longer took.
// The next try skips connections that received GOAWAY; a server that keeps refusing is not
// tried forever.
constexpr int kMaxConnectAttempts = 3;

Headers requestHeaders(const TunnelRequest& req) {
  Headers h{{":method", "CONNECT"}, {":authority", req.authority}};
  if (!req.source.is_unspecified()) h.push_back({"forwarded", formatForwardedFor(req.source)});
  h.push_back({"traceparent", req.traceparent.empty() ? generateTraceparent() : req.traceparent});
  if (!req.baggage.empty()) h.push_back({"baggage", req.baggage});
  for (const auto& x : req.extra) h.push_back(x);
  return h;
}

}  // namespace

struct HboneClientPool::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, PeerVerifier verifier, PoolOptions opts)
      : executor(std::move(ex)), verifier(std::move(verifier)), options(std::move(opts)) {}

  using ConnectionPtr = std::shared_ptr<PooledConnection>;
  asio::awaitable<Result<HboneStream>> openTunnel(const Destination& destination,
                                                  const TunnelRequest& request);
  // One try of openTunnel(); `unprocessed` is set when the server did not act on the CONNECT.
  asio::awaitable<Result<HboneStream>> tryTunnel(const Destination& destination,
                                                 const TunnelRequest& request, bool& unprocessed);
  asio::awaitable<Result<std::shared_ptr<HboneConnection>>> acquire(const Destination& dest);
  asio::awaitable<Status> establish(const Destination& dest, ConnectionPtr conn);
  asio::awaitable<Result<std::shared_ptr<Dial>>> dialTls(const Destination& dest);
  asio::awaitable<Status> waitSettings(const ConnectionPtr& conn);
  asio::awaitable<bool> waitUntil(ConnectionPtr conn, std::function<bool()> done,
                                  std::chrono::milliseconds timeout);
  asio::awaitable<void> keepalive(ConnectionPtr conn);
  bool hasRoom(const PooledConnection& c) const;
  detail::ConnectionHooks hooksFor(const ConnectionPtr& conn);

  asio::any_io_executor executor;
  PeerVerifier verifier;
  PoolOptions options;
  std::map<std::string, std::vector<ConnectionPtr>> pool;
  PoolStats counters;
  bool closed = false;
};

bool HboneClientPool::Impl::hasRoom(const PooledConnection& c) const {
  if (c.connecting) return c.reserved < options.max_streams_per_connection;
  if (!c.session || c.session->closed() || c.session->goawayReceived()) return false;
  uint32_t limit =
      std::min(options.max_streams_per_connection, c.session->peerMaxConcurrentStreams());
  return c.session->streamCount() + c.reserved < limit;
}

asio::awaitable<Result<std::shared_ptr<HboneConnection>>> HboneClientPool::Impl::acquire(
    const Destination& dest) {
  auto self = shared_from_this();
  auto& conns =
      pool[dest.source_identity + "|" + dest.source_scope + "|" + formatAuthority(dest.address)];
  std::erase_if(conns, [](const ConnectionPtr& c) {
    return !c->connecting && (!c->session || c->session->closed());
  });
  ConnectionPtr conn;
  for (auto& c : conns) {
    if (hasRoom(*c)) {
      conn = c;
      break;
    }
  }
  bool dial = conn == nullptr;
  if (dial) {
    conn = std::make_shared<PooledConnection>(executor);
    conns.push_back(conn);
  }
  ++conn->reserved;
  if (dial) {
    conn->failure = co_await establish(dest, conn);
    conn->connecting = false;
    conn->ready.notify();
  }
  while (conn->connecting) co_await conn->ready.wait();
  --conn->reserved;
  if (!conn->failure) co_return conn->failure.error();
  if (conn->session->closed())
    co_return makeError("HBONE connection to {} closed", formatAuthority(dest.address));
  co_return conn->session;
}

asio::awaitable<Result<std::shared_ptr<Dial>>> HboneClientPool::Impl::dialTls(
    const Destination& dest) {
  const int family = dest.address.protocol().family();
  Result<int> fd = dest.socket_factory ? dest.socket_factory(family) : plainSocket(family);
  if (!fd) co_return fd.error().context("HBONE socket");
  UniqueFd owned(*fd);
  if (options.socket_mark) {
    uint32_t mark = *options.socket_mark;
    if (::setsockopt(owned.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
      co_return errnoError("setsockopt(SO_MARK)");
    }
  }
  tcp::socket socket(executor);
  error_code ec;
  socket.assign(dest.address.protocol(), owned.get(), ec);
  if (ec) co_return Error{ec.value(), "HBONE socket: " + ec.message()};
  (void)owned.release();
  auto tls = TlsTransport::create(std::move(socket), dest.tls->native_handle(),
                                  TlsTransport::Side::kClient);
  if (!tls) co_return tls.error().context("HBONE TLS");
  auto dial = std::make_shared<Dial>();
  dial->tls = std::move(*tls);
  dial->verification.verifier = verifier;
  dial->verification.expected_ids = dest.expected_server_ids;
  SSL* ssl = dial->tls->ssl();
  if (Status st = dial->verification.attach(ssl); !st) co_return st.error();
  if (Status st = offerAlpnH2(ssl); !st) co_return st.error();
  asio::steady_timer timer(executor, options.connect_timeout);
  armTimeout(timer, dial);
  co_await dial->tls->socket().async_connect(dest.address,
                                             asio::redirect_error(asio::use_awaitable, ec));
  dial->done = true;
  timer.cancel();
  if (ec)
    co_return Error{ec.value(),
                    fmt::format("connect {}: {}", formatAuthority(dest.address), ec.message())};
  dial->tls->socket().set_option(tcp::no_delay(true), ec);
  timer.expires_after(options.handshake_timeout);
  armTimeout(timer, dial);
  Status handshake = co_await dial->tls->handshake();
  dial->done = true;
  timer.cancel();
  PeerVerification::detach(ssl);
  if (!handshake) {
    std::string why = dial->timed_out
                          ? fmt::format("timed out after {} ms", options.handshake_timeout.count())
                      : dial->verification.error.empty() ? handshake.message()
                                                         : dial->verification.error;
    co_return Error{dial->timed_out ? ETIMEDOUT : EPROTO,
                    fmt::format("TLS handshake with {}: {}", formatAuthority(dest.address), why)};
  }
  if (negotiatedAlpn(ssl) != kAlpnH2) {
    co_return makeError("TLS handshake with {}: server did not select ALPN h2",
                        formatAuthority(dest.address));
  }
  co_return dial;
}

detail::ConnectionHooks HboneClientPool::Impl::hooksFor(const ConnectionPtr& conn) {
  std::weak_ptr<PooledConnection> weak = conn;
  std::weak_ptr<Impl> weak_pool = weak_from_this();
  detail::ConnectionHooks hooks;
  hooks.on_timeout = options.on_timeout;
  hooks.on_settings = [weak]() {
    if (auto c = weak.lock()) {
      c->settings_received = true;
      c->ready.notify();
    }
  };
  hooks.on_closed = [weak]() {
    if (auto c = weak.lock()) c->ready.notify();
  };
  hooks.on_ping_ack = [weak, weak_pool]() {
    if (auto c = weak.lock()) {
      ++c->ping_acks;
      c->ready.notify();
    }
    if (auto p = weak_pool.lock()) ++p->counters.pings_acked;
  };
  return hooks;
}

asio::awaitable<Status> HboneClientPool::Impl::establish(const Destination& dest,
                                                         ConnectionPtr conn) {
  if (!dest.tls) co_return makeError("HBONE destination has no TLS context");
  auto dial = co_await dialTls(dest);
  if (!dial) co_return dial.error();
  std::string identity = (*dial)->verification.identity;
  auto session =
      std::make_shared<HboneConnection>(std::move((*dial)->tls), http2::Role::kClient,
                                        options.http2, std::move(identity), hooksFor(conn));
  conn->session = session;
  if (Status st = session->startDetached(); !st) co_return st;
  ++counters.connections_opened;
  if (Status st = co_await waitSettings(conn); !st) co_return st;
  if (options.keepalive_interval.count() > 0) {
    spawn(executor, keepalive(conn), "HBONE keepalive");
  }
  co_return Status::ok();
}

// Waits until done() holds (re-checked whenever conn->ready is notified); false on timeout.
asio::awaitable<bool> HboneClientPool::Impl::waitUntil(ConnectionPtr conn,
                                                       std::function<bool()> done,
                                                       std::chrono::milliseconds timeout) {
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer timer(executor, timeout);
  timer.async_wait([conn, expired](error_code ec) {
    if (ec) return;
    *expired = true;
    conn->ready.notify();
  });
  while (!done() && !*expired) co_await conn->ready.wait();
  timer.cancel();
  co_return done();
}

// The server's limits come in its first SETTINGS frame; wait for it so the stream limit holds.
asio::awaitable<Status> HboneClientPool::Impl::waitSettings(const ConnectionPtr& conn) {
  auto session = conn->session;
  bool ok = co_await waitUntil(
      conn, [&]() { return conn->settings_received || session->closed(); },
      options.handshake_timeout);
  if (!ok) session->close("no SETTINGS from server");
  if (session->closed()) {
    co_return makeError(
        "HBONE server {} closed the connection before its SETTINGS (did it "
        "refuse our certificate?)",
        formatAuthority(session->remoteEndpoint()));
  }
  co_return Status::ok();
}

asio::awaitable<void> HboneClientPool::Impl::keepalive(ConnectionPtr conn) {
  std::weak_ptr<Impl> weak_pool = weak_from_this();
  std::weak_ptr<HboneConnection> weak_session = conn->session;
  asio::steady_timer timer(executor);
  for (;;) {
    error_code ec;
    timer.expires_after(options.keepalive_interval);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto session = weak_session.lock();
    auto pool_impl = weak_pool.lock();
    if (!session || session->closed() || !pool_impl) co_return;
    const uint64_t acks = conn->ping_acks;
    session->submitPing();
    ++pool_impl->counters.pings_sent;
    bool answered = co_await waitUntil(
        conn, [&]() { return conn->ping_acks != acks || session->closed(); },
        options.keepalive_timeout);
    if (session->closed()) co_return;
    if (!answered) {
      logWarn("HBONE {}: no PING answer within {} ms, closing",
              formatAuthority(session->remoteEndpoint()), options.keepalive_timeout.count());
      session->close("keepalive timeout");
      co_return;
    }
  }
}

HboneClientPool::HboneClientPool(asio::any_io_executor executor, PeerVerifier server_verifier,
                                 PoolOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(server_verifier),
                                   std::move(options))) {}

HboneClientPool::~HboneClientPool() { close(); }

asio::awaitable<Result<HboneStream>> HboneClientPool::connect(const Destination& destination,
                                                              const TunnelRequest& request) {
  co_return co_await impl_->openTunnel(destination, request);
}

asio::awaitable<Result<HboneStream>> HboneClientPool::Impl::openTunnel(
    const Destination& destination, const TunnelRequest& request) {
  auto impl = shared_from_this();
  for (int attempt = 1;; ++attempt) {
    if (impl->closed) co_return makeError("HBONE client pool is closed");
    bool unprocessed = false;
    auto stream = co_await impl->tryTunnel(destination, request, unprocessed);
    if (stream || !unprocessed || attempt == kMaxConnectAttempts) co_return stream;
    logDebug("{}; trying again on another connection", stream.error().message);
  }
}

asio::awaitable<Result<HboneStream>> HboneClientPool::Impl::tryTunnel(
    const Destination& destination, const TunnelRequest& request, bool& unprocessed) {
  auto impl = shared_from_this();
  auto session = co_await impl->acquire(destination);
  if (!session) co_return session.error();
  const auto& expected = destination.expected_server_ids;
  const std::string& peer = (*session)->peerIdentity();
  if (!expected.empty() && std::find(expected.begin(), expected.end(), peer) == expected.end()) {
    co_return makeError("HBONE {}: server identity {} is not one expected for this destination",
                        formatAuthority(destination.address), peer);
  }
  auto state = (*session)->openTunnel(requestHeaders(request));
  if (!state) {
    unprocessed = true;  // nothing was sent
    co_return state.error().context(fmt::format("HBONE CONNECT {} via {}", request.authority,
                                                formatAuthority(destination.address)));
  }
  auto st = std::move(*state);
  asio::steady_timer timer(impl->executor, impl->options.response_timeout);
  timer.async_wait([weak = std::weak_ptr<detail::StreamState>(st)](error_code ec) {
    if (auto s = weak.lock(); s && !ec && s->status == 0) s->reset(NGHTTP2_CANCEL);
  });
  co_await st->waitResponse();
  timer.cancel();
  HboneStream stream(st);  // resets the stream on every error path below
  if (st->status == 0) {
    unprocessed = st->closeCode() == NGHTTP2_REFUSED_STREAM;
    co_return Error{ECONNRESET, fmt::format("HBONE CONNECT {} via {}: no response (HTTP/2 error "
                                            "code {})",
                                            request.authority, formatAuthority(destination.address),
                                            st->closeCode())};
  }
  if (st->status != 200) {
    co_return Error{ECONNREFUSED,
                    fmt::format("HBONE CONNECT {} via {} refused: HTTP {}", request.authority,
                                formatAuthority(destination.address), st->status)};
  }
  co_return stream;
}

void HboneClientPool::asyncConnect(Destination destination, TunnelRequest request,
                                   ConnectCallback done) {
  auto op = [impl = impl_, destination = std::move(destination), request = std::move(request),
             done = std::move(done)]() -> asio::awaitable<void> {
    done(co_await impl->openTunnel(destination, request));
  };
  spawn(impl_->executor, std::move(op), "HBONE connect");
}

asio::any_io_executor HboneClientPool::executor() const { return impl_->executor; }

void HboneClientPool::close() {
  impl_->closed = true;
  for (auto& [key, conns] : impl_->pool) {
    for (auto& c : conns) {
      if (c->session) c->session->close("client pool closed");
    }
  }
  impl_->pool.clear();
}

PoolStats HboneClientPool::stats() const {
  PoolStats s = impl_->counters;
  s.connections = 0;
  s.active_streams = 0;
  for (const auto& [key, conns] : impl_->pool) {
    for (const auto& c : conns) {
      if (!c->session || c->session->closed()) continue;
      ++s.connections;
      s.active_streams += c->session->streamCount();
    }
  }
  return s;
}

}  // namespace ambit::hbone
