#include "common/hbone/server.h"

#include <boost/asio/steady_timer.hpp>
#include <list>

#include "common/async/accept_loop.h"
#include "common/async/spawn.h"
#include "common/hbone/stream_state.h"
#include "common/hbone/tls_transport.h"
#include "common/log.h"

namespace ambit::hbone {

using asio::ip::tcp;
using boost::system::error_code;
using detail::HboneConnection;
using detail::StreamState;

struct HboneServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, asio::ssl::context& tls, PeerVerifier verifier,
       ConnectHandler handler, ServerOptions options)
      : executor(std::move(ex)),
        tls(tls),
        verifier(std::move(verifier)),
        handler(std::move(handler)),
        options(std::move(options)) {}

  asio::awaitable<void> acceptLoop(std::shared_ptr<tcp::acceptor> acceptor);
  asio::awaitable<void> handshake(tcp::socket socket);
  asio::awaitable<void> serveStream(std::shared_ptr<StreamState> stream);
  asio::awaitable<ConnectOutcome> callHandler(const ConnectRequest& request);
  // Serves the HTTP/2 of an established connection on `connection_executor`.
  void startSession(std::unique_ptr<http2::Transport> transport,
                    asio::any_io_executor connection_executor, tcp::endpoint peer,
                    std::string identity);
  std::vector<std::shared_ptr<HboneConnection>> liveSessions();
  void stopAccepting();

  asio::any_io_executor executor;
  asio::ssl::context& tls;
  PeerVerifier verifier;
  ConnectHandler handler;
  ServerOptions options;
  Status tls_status;
  std::list<std::shared_ptr<tcp::acceptor>> acceptors;
  std::vector<std::weak_ptr<HboneConnection>> sessions;
  ServerStats stats;
  bool stopping = false;
};

namespace {

struct Handshake {
  std::unique_ptr<TlsTransport> tls;
  PeerVerification verification;
  bool done = false;
  bool timed_out = false;
};

// 0 when the request is an acceptable CONNECT, else the status to refuse it with.
int validateRequest(const StreamState& st, ConnectRequest& req, std::string& why) {
  if (st.method != "CONNECT") {
    why = fmt::format("method '{}' is not CONNECT", st.method);
    return 405;
  }
  if (!st.scheme_or_path.empty()) {
    why = "CONNECT with :scheme/:path (extended CONNECT is not HBONE)";
    return 400;
  }
  if (st.remoteEnded()) {
    why = "CONNECT request ended the stream";
    return 400;
  }
  auto target = parseAuthority(st.authority);
  if (!target) {
    why = target.error().message;
    return 400;
  }
  req.target = *target;
  return 0;
}

}  // namespace

asio::awaitable<void> HboneServer::Impl::acceptLoop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  error_code ec;
  auto local = acceptor->local_endpoint(ec);
  AcceptBackoff backoff(fmt::format("HBONE listener {}", formatAuthority(local)),
                        options.on_accept_exhausted);
  const AcceptHandler on_accept = [this](tcp::socket socket) {
    if (stopping) return;  // draining: the connection is closed unanswered
    ++stats.connections_accepted;
    spawn(executor, handshake(std::move(socket)), "HBONE TLS handshake");
  };
  co_await acceptUntilClosed(*acceptor, backoff, on_accept);
}

asio::awaitable<void> HboneServer::Impl::handshake(tcp::socket socket) {
  auto self = shared_from_this();
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto peer = socket.remote_endpoint(ec);
  auto created =
      TlsTransport::create(std::move(socket), tls.native_handle(), TlsTransport::Side::kServer);
  if (!created) {
    logError("HBONE {}: {}", peer.address().to_string(), created.error().message);
    co_return;
  }
  auto hs = std::make_shared<Handshake>();
  hs->tls = std::move(*created);
  hs->verification.verifier = verifier;
  SSL* ssl = hs->tls->ssl();
  if (Status st = hs->verification.attach(ssl); !st) {
    logError("HBONE: {}", st.message());
    co_return;
  }
  asio::steady_timer timer(executor, options.handshake_timeout);
  timer.async_wait([hs](error_code e) {
    if (!e && !hs->done) {
      hs->timed_out = true;
      hs->tls->close();
    }
  });
  Status handshake = co_await hs->tls->handshake();
  hs->done = true;
  timer.cancel();
  PeerVerification::detach(ssl);
  std::string alpn = negotiatedAlpn(ssl);
  if (!handshake || alpn != kAlpnH2) {
    ++stats.handshake_failures;
    if (hs->timed_out && options.on_timeout) options.on_timeout(HboneTimeout::kHandshake);
    logInfo("HBONE {}: TLS handshake failed: {}{}", peer.address().to_string(),
            hs->timed_out ? "timed out"
            : !handshake  ? handshake.message()
                          : fmt::format("ALPN '{}' is not h2", alpn),
            hs->verification.error.empty() ? "" : " (" + hs->verification.error + ")");
    hs->tls->close();
    co_return;
  }
  asio::any_io_executor connection_executor = hs->tls->socket().get_executor();
  startSession(std::move(hs->tls), std::move(connection_executor), peer,
               std::move(hs->verification.identity));
}

void HboneServer::Impl::startSession(std::unique_ptr<http2::Transport> transport,
                                     asio::any_io_executor connection_executor, tcp::endpoint peer,
                                     std::string identity) {
  std::weak_ptr<Impl> weak = weak_from_this();
  detail::ConnectionHooks hooks;
  hooks.on_timeout = options.on_timeout;
  hooks.on_request = [weak](std::shared_ptr<StreamState> st) {
    if (auto impl = weak.lock()) {
      spawn(impl->executor, impl->serveStream(std::move(st)), "HBONE tunnel");
    }
  };
  auto session = std::make_shared<HboneConnection>(
      std::move(transport), peer, std::move(connection_executor), http2::Role::kServer,
      options.http2, std::move(identity), std::move(hooks));
  if (Status st = session->startDetached(); !st) {
    logError("HBONE: {}", st.message());
    session->close(st.message());
    return;
  }
  if (stopping) session->shutdown();
  std::erase_if(sessions, [](const auto& w) { return w.expired(); });
  sessions.push_back(session);
}

asio::awaitable<ConnectOutcome> HboneServer::Impl::callHandler(const ConnectRequest& request) {
  try {
    co_return co_await handler(request);
  } catch (const std::exception& e) {
    logError("HBONE connect handler for {} threw: {}", request.authority, e.what());
  }
  co_return 503;
}

asio::awaitable<void> HboneServer::Impl::serveStream(std::shared_ptr<StreamState> st) {
  auto self = shared_from_this();
  auto session = st->connection();
  ConnectRequest req{session->peerIdentity(),
                     session->remoteEndpoint(),
                     st->authority,
                     {},
                     std::move(st->headers)};
  std::string why;
  int refuse = validateRequest(*st, req, why);
  ConnectOutcome outcome = refuse;
  if (refuse == 0) outcome = co_await callHandler(req);
  if (auto* status = std::get_if<int>(&outcome)) {
    int code = (*status >= 400 && *status <= 599) ? *status : 500;
    logDebug("HBONE {} -> {}: refused with {} {}", req.peer_identity, req.authority, code, why);
    ++stats.streams_refused;
    (void)session->respond(*st, code, false);
    co_return;
  }
  if (auto* terminate = std::get_if<TerminateTunnel>(&outcome)) {
    if (Status s = session->respond(*st, 200, true); !s) {
      logDebug("HBONE {} -> {}: {}", req.peer_identity, req.authority, s.message());
      co_return;
    }
    ++stats.streams_accepted;
    if (terminate->serve) co_await terminate->serve(HboneStream(st));
    co_return;
  }
  SpliceTo to = std::holds_alternative<SpliceTo>(outcome)
                    ? std::move(std::get<SpliceTo>(outcome))
                    : SpliceTo{std::move(std::get<tcp::socket>(outcome)), nullptr};
  if (options.on_tunnel_closed) {
    req.headers = Headers();  // the handler has decided; an open tunnel does not keep them
    to.on_closed = [self, req = std::move(req),
                    inner = std::move(to.on_closed)](const SpliceResult& result) {
      if (inner) inner(result);
      self->options.on_tunnel_closed(req, result);
    };
  }
  if (Status s = session->respond(*st, 200, true); !s) {
    logDebug("HBONE {} -> {}: {}", session->peerIdentity(), st->authority, s.message());
    SpliceResult unanswered;
    unanswered.status = s;
    if (to.on_closed) to.on_closed(unanswered);
    error_code ec;  // the upstream sees a reset, as when a spliced tunnel is reset
    to.upstream.set_option(asio::socket_base::linger(true, 0), ec);
    to.upstream.close(ec);
    co_return;
  }
  ++stats.streams_accepted;
  // Spliced without this frame: an idle tunnel costs only what the splice holds.
  HboneStream(st).splice(std::move(to.upstream), std::move(to.on_closed));
}

std::vector<std::shared_ptr<HboneConnection>> HboneServer::Impl::liveSessions() {
  std::vector<std::shared_ptr<HboneConnection>> live;
  for (auto& w : sessions) {
    if (auto s = w.lock(); s && !s->closed()) live.push_back(std::move(s));
  }
  return live;
}

void HboneServer::Impl::stopAccepting() {
  stopping = true;
  for (auto& a : acceptors) {
    error_code ec;
    a->close(ec);
  }
  acceptors.clear();
}

HboneServer::HboneServer(asio::any_io_executor executor, asio::ssl::context& tls,
                         PeerVerifier verifier, ConnectHandler handler, ServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), tls, std::move(verifier),
                                   std::move(handler), std::move(options))) {
  impl_->tls_status = configureServerContext(tls.native_handle());
}

HboneServer::~HboneServer() { close(); }

Status HboneServer::listen(tcp::acceptor acceptor) {
  AMBIT_TRY(impl_->tls_status);
  if (!acceptor.is_open()) return makeError("HBONE listen: acceptor is not open");
  if (impl_->stopping) return makeError("HBONE listen: server is draining");
  auto shared = std::make_shared<tcp::acceptor>(std::move(acceptor));
  impl_->acceptors.push_back(shared);
  spawn(impl_->executor, impl_->acceptLoop(shared), "HBONE accept loop");
  return Status::ok();
}

void HboneServer::adopt(tcp::socket socket) {
  ++impl_->stats.connections_accepted;
  spawn(impl_->executor, impl_->handshake(std::move(socket)), "HBONE TLS handshake");
}

void HboneServer::serveSession(std::unique_ptr<http2::Transport> transport,
                               tcp::endpoint peer_address, std::string peer_identity) {
  impl_->startSession(std::move(transport), impl_->executor, peer_address,
                      std::move(peer_identity));
}

asio::awaitable<void> HboneServer::drain(std::chrono::steady_clock::time_point deadline) {
  auto impl = impl_;
  impl->stopAccepting();
  auto live = impl->liveSessions();
  for (auto& s : live) s->shutdown();
  asio::steady_timer timer(impl->executor, deadline);
  timer.async_wait([impl](error_code ec) {
    if (ec) return;
    for (auto& s : impl->liveSessions()) s->close("drain deadline");
  });
  for (auto& s : live) co_await s->waitClosed();
  timer.cancel();
}

void HboneServer::close() {
  impl_->stopAccepting();
  for (auto& s : impl_->liveSessions()) s->close("server closed");
}

ServerStats HboneServer::stats() const {
  ServerStats s = impl_->stats;
  s.active_connections = impl_->liveSessions().size();
  return s;
}

}  // namespace ambit::hbone
