#pragma once
// Peer verification for HBONE (mTLS between workloads). The TLS transport lives in
// common/hbone/; these helpers hold the identity rules it must enforce:
//   - the peer presents a chain that verifies against our roots (TLS 1.3 only),
//   - its leaf and every signing certificate of the verified chain meet the X509-SVID rules
//     (svid_rules.h), and the leaf's SPIFFE id is in the expected trust domain.
// All functions are thread-safe; the SSL_CTX itself follows OpenSSL's rules (configure it
// before sharing it between threads).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hbone/tls.h"
#include "common/identity/certificate.h"
#include "common/identity/openssl_ptr.h"
#include "common/identity/spiffe.h"
#include "common/status.h"

namespace ambit::identity {

// A new X509_STORE trusting exactly roots. Error when roots is empty.
[[nodiscard]] Result<ossl::X509StorePtr> buildTrustStore(const std::vector<ossl::X509Ptr>& roots);

struct PeerVerifyOptions {
  std::string trustDomain;  // required trust domain of the peer's SPIFFE id; empty: any
  // Verification time; unset: now. Tests use it to check expiry deterministically.
  std::optional<std::chrono::system_clock::time_point> at;
};

// Verifies leaf (+ untrusted intermediates) against store (rule path-validation), then applies
// checkPeerSvid() to the verified chain, and returns the leaf's SPIFFE id. Errors name the rule
// and the reason ("certificate has expired", "leaf-not-ca", ...).
[[nodiscard]] Result<SpiffeId> verifyPeerChain(X509_STORE* store, X509* leaf,
                                               const std::vector<X509*>& intermediates,
                                               const PeerVerifyOptions& options = {});

struct MtlsOptions {
  std::string trustDomain;  // peers must be in it; empty: the local certificate's trust domain
};

// Installs cert (key, chain) and a store of cert.roots into ctx; TLS 1.3 only; requires and
// verifies the peer certificate with spiffeVerifyCallback enforcing options.trustDomain.
// Build a new SSL_CTX per certificate snapshot (on rotation); existing connections keep theirs.
[[nodiscard]] Status configureMtls(SSL_CTX* ctx, const WorkloadCertificate& cert,
                                   const MtlsOptions& options = {});

// OpenSSL verify callback (SSL_CTX_set_verify): on top of chain verification, applies
// checkPeerSvid() with the trust domain that configureMtls() stored on the SSL_CTX. Fails with
// X509_V_ERR_APPLICATION_VERIFICATION otherwise.
int spiffeVerifyCallback(int preverifyOk, X509_STORE_CTX* storeCtx);

// The HBONE verifier (common/hbone/tls.h) both sides of every HBONE connection use (ztunnel and
// waypoint, through IdentityStore::peerVerifier): checkPeerSvid() on the leaf and the chain
// OpenSSL verified, requiring trustDomain (empty: any). Returns the peer's SPIFFE id.
hbone::PeerVerifier spiffePeerVerifier(std::string trustDomain);

// Error unless peer is one of expected (HBONE client: the server must be one of the identities
// expected for the destination). The message lists what was expected.
[[nodiscard]] Status checkExpectedPeer(const SpiffeId& peer, const std::vector<SpiffeId>& expected);

// The verified peer's SPIFFE id after a successful handshake (callers then check it against
// the identities expected for the destination).
[[nodiscard]] Result<SpiffeId> peerSpiffeId(const SSL* ssl);

}  // namespace ambit::identity
