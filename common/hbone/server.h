#pragma once
// HboneServer: the HBONE (port 15008) side. Accepts TLS 1.3 connections on listening sockets
// the caller opened (the ztunnel opens them inside each pod's netns), requires and verifies a
// client certificate (chain by OpenSSL against the context's trust store, identity by the
// PeerVerifier), speaks HTTP/2 and, for each CONNECT, asks the ConnectHandler for a refusal
// status, a connected upstream socket (then splices tunnel <-> socket), or a TerminateTunnel
// (then hands the tunnel's HboneStream to the caller, e.g. the waypoint's HTTP proxy).
//
// Thread model: the server, its listeners and every connection run on the one executor given
// to the constructor (a single-threaded io_context); a connection stays there for its whole
// life. Scale out with one HboneServer per io_context thread (SO_REUSEPORT listeners).
// Call every method from that executor. The ssl::context must outlive the server.
//
// Refusals the server makes itself (the handler never sees them): method other than CONNECT
// -> 405; :scheme/:path present, missing or non-IP :authority -> 400. Protocol violations and
// header blocks over Http2Options::max_header_list_size close the connection (GOAWAY);
// nothing a peer sends affects other connections.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "common/hbone/http2_options.h"
#include "common/hbone/protocol.h"
#include "common/hbone/stream.h"
#include "common/hbone/tls.h"
#include "common/http2/transport.h"
#include "common/status.h"

namespace ambit::hbone {

struct ConnectRequest {
  std::string peer_identity;             // verified SPIFFE id of the TLS client
  asio::ip::tcp::endpoint peer_address;  // TLS client's address
  std::string authority;                 // as received
  asio::ip::tcp::endpoint target;        // parsed :authority
  Headers headers;                       // forwarded, traceparent, baggage, ...
};

// Terminates the tunnel in this process instead of splicing it to a socket: the server answers
// 200 and runs serve(stream) on its executor. The tunnel lives as long as the stream handle
// (dropping it before both directions ended resets the stream). on_tunnel_closed is not called
// for terminated tunnels: the caller sees the bytes itself.
struct TerminateTunnel {
  std::function<asio::awaitable<void>(HboneStream stream)> serve;
};

// Splices the tunnel to `upstream` (connected, on the server's executor) and calls `on_closed`
// (if set) once it ended, or at once with an error status and no bytes if the tunnel could
// not be answered. What the caller needs when the tunnel ends lives in on_closed: nothing
// else (no coroutine, no request) stays behind while the tunnel is open.
struct SpliceTo {
  asio::ip::tcp::socket upstream;
  SpliceDone on_closed;
};

// An HTTP status to refuse with (400 bad target, 401 policy deny, 503 app refused...), the
// upstream socket, already connected, on the server's executor (a SpliceTo without on_closed),
// a SpliceTo, or a TerminateTunnel.
using ConnectOutcome = std::variant<int, asio::ip::tcp::socket, TerminateTunnel, SpliceTo>;
using ConnectHandler = std::function<asio::awaitable<ConnectOutcome>(const ConnectRequest&)>;
// Called when a spliced tunnel ends (for metrics and access logs), with a copy of the request
// the handler saw, less its headers. Set, it keeps that copy for each open tunnel.
using TunnelObserver = std::function<void(const ConnectRequest&, const SpliceResult&)>;

struct ServerOptions {
  Http2Options http2;
  // A TLS handshake not finished by then is closed (half-open / slowloris clients).
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  TunnelObserver on_tunnel_closed;
  // Called for each accept() that failed for lack of fds or socket memory (the listener then
  // pauses: common/async/accept_loop.h), e.g. to count it in a metric.
  std::function<void()> on_accept_exhausted;
  // Called for each connection closed by the handshake or header timeout and each tunnel reset
  // (or connection closed) by the send-stall timeout (Http2Options::send_stall_timeout).
  std::function<void(HboneTimeout)> on_timeout;
};

struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t handshake_failures = 0;
  uint64_t streams_accepted = 0;  // tunnels spliced or terminated
  uint64_t streams_refused = 0;   // answered with an error status
  size_t active_connections = 0;
};

class HboneServer {
 public:
  // Configures `tls` for HBONE (TLS 1.3 only, ALPN h2): see configureServerContext().
  HboneServer(asio::any_io_executor executor, asio::ssl::context& tls, PeerVerifier verifier,
              ConnectHandler handler, ServerOptions options = {});
  ~HboneServer();  // closes every listener and connection
  HboneServer(const HboneServer&) = delete;
  HboneServer& operator=(const HboneServer&) = delete;

  // Starts accepting on a bound, listening acceptor (any number of them).
  Status listen(asio::ip::tcp::acceptor acceptor);
  // Serves one already accepted TCP connection.
  void adopt(asio::ip::tcp::socket socket);
  // Serves the HTTP/2 session of a connection whose TLS handshake is done: `transport` carries
  // the decrypted bytes, `peer_identity` is the verified client identity. Every accepted
  // connection ends up here (the fuzzer, tests/fuzz/hbone_server, feeds it memory).
  void serveSession(std::unique_ptr<http2::Transport> transport,
                    asio::ip::tcp::endpoint peer_address, std::string peer_identity);
  // Stops accepting, sends GOAWAY on every connection, lets open tunnels run until
  // `deadline`, then closes what is left. Completes when every connection is closed.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline);
  // Stops accepting and closes every connection now.
  void close();

  ServerStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ambit::hbone
