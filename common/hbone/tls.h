#pragma once
// TLS for HBONE: TLS 1.3 only (AES-128-GCM preferred), ALPN "h2", no SNI, mutual certificate
// authentication with the peer's SPIFFE identity decided by a caller-supplied verifier.
//
// Why OpenSSL driven directly (TlsTransport, tls_transport.h) rather than asio::ssl::stream:
// HBONE is the data path, and asio::ssl's engine costs it. Its memory-BIO pair copies every TLS
// record twice more (into the pair, then into asio's ~17 KiB staging buffer) and sends each
// record with its own sendto(); reads come 17 KiB at a time through the same copies. Our own
// BIO over our own buffers lets one SSL_write put a whole HTTP/2 batch (several records) into
// one buffer that goes out with one send(), reads up to 128 KiB per recv(), and frees the buffers
// of idle connections. The state machine it replaces is small: SSL_read/SSL_do_handshake ask for
// more input (we wait for readability and recv), and SSL_write never waits (the BIO takes all).
// kTLS would remove the copies altogether, but the kernels we run on lack the "tls" ULP.
//
// Credentials and trust are the caller's: the SSL_CTX carries the certificate chain, private
// key and trust store (common/identity builds it). This library only adds the HBONE protocol
// constraints and calls the PeerVerifier once OpenSSL has verified the chain.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::hbone {

// The TLS 1.3 cipher suites HBONE offers and accepts, in preference order (tls.cc says why).
inline constexpr char kTls13CipherSuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// Given the peer's leaf certificate and its verified chain (leaf first, as OpenSSL built it),
// returns the peer's SPIFFE id ("spiffe://td/ns/x/sa/y") or an error saying why it is refused
// (e.g. wrong trust domain, not exactly one URI SAN). Called during the handshake, on the
// connection's thread; a refusal fails the handshake with a TLS alert.
using PeerVerifier = std::function<Result<std::string>(X509* leaf, STACK_OF(X509) * chain)>;

// Server side: TLS 1.3 only and the ALPN selector (accepts only "h2"). Idempotent; changes the
// context for every user of it.
Status configureServerContext(SSL_CTX* ctx);
// Client side: TLS 1.3 only and ALPN offer "h2". (HboneClientPool does not need it: it sets
// both on each SSL, leaving shared contexts untouched.)
Status configureClientContext(SSL_CTX* ctx);
// Offers ALPN "h2" on one client connection.
Status offerAlpnH2(SSL* ssl);

// Per-connection verification state, attached to one SSL*. Must outlive the handshake.
struct PeerVerification {
  PeerVerifier verifier;
  std::vector<std::string> expected_ids;  // client side: server id must be one of these
  std::string identity;                   // the verified peer id, after a good handshake
  std::string error;                      // why verification failed, if it did

  // Installs the verify callback on `ssl` (peer certificate required) and pins TLS 1.3.
  Status attach(SSL* ssl);
  // Removes the link from `ssl` (after the handshake, before this object goes away).
  static void detach(SSL* ssl);
};

// The ALPN protocol the handshake selected ("" if none).
std::string negotiatedAlpn(const SSL* ssl);

// The most recent OpenSSL error queue entry as text (and clears the queue).
std::string lastSslError();

// Empties this thread's OpenSSL error queue before an SSL call (SSL_get_error reads it), at the
// cost of a look when it is already empty: ERR_clear_error resets all of the queue's slots
// every time (~800 instructions in OpenSSL 3.0), ERR_peek_error only checks it is empty.
void clearSslErrors();

}  // namespace ambit::hbone
