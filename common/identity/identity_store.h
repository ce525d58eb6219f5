#pragma once
// Workload identities a process serves as (the ztunnel: every pod on its node; the waypoint:
// its own): one certificate per SPIFFE id (service account), kept fresh by CertificateManager,
// and the HBONE client/server TLS contexts built from it.
//
// Thread model: everything here runs on the data io_context thread except the certificate
// manager's fetches (gRPC completion threads post back to the same io_context). On rotation
// the SSL_CTXs are updated in place on that thread, so new handshakes use the new certificate
// while established connections keep theirs.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/hbone/tls.h"
#include "common/identity/cert_manager.h"
#include "common/identity/spiffe.h"
#include "common/status.h"

namespace ambit::identity {

struct IdentityTls {
  std::shared_ptr<boost::asio::ssl::context> client;  // outbound HBONE as this identity
  std::shared_ptr<boost::asio::ssl::context> server;  // inbound HBONE as this identity
  std::shared_ptr<const WorkloadCertificate> cert;    // null until first issued
};

class IdentityStore {
 public:
  IdentityStore(boost::asio::io_context& io, std::shared_ptr<CertificateFetcher> ca,
                CertificateManagerOptions options, std::string trust_domain);
  ~IdentityStore();

  // Starts keeping a certificate for id (ref-counted by pods using it).
  void acquire(const SpiffeId& id);
  void release(const SpiffeId& id);

  // The TLS contexts for id; contexts exist from acquire() on but hold no certificate until the
  // first one is issued (handshakes fail until then: `ready(id)` says whether it is there).
  std::shared_ptr<IdentityTls> tls(const std::string& spiffe_id);
  bool ready(const std::string& spiffe_id) const;

  // Turns a verified peer certificate into its SPIFFE id: every X509-SVID rule on the leaf and
  // its chain (spiffePeerVerifier), requiring our trust domain.
  hbone::PeerVerifier peerVerifier() const;

  // For /config_dump: identity -> (serial, not_after, state).
  std::map<std::string, std::shared_ptr<const WorkloadCertificate>> certificates() const;
  uint64_t rotations() const { return rotations_; }

  // Told on the data thread when an identity's certificate is installed (with its notAfter) and
  // when the identity is no longer held (nullopt): for the certificate-expiry metric.
  using CertificateObserver = std::function<void(
      const std::string& spiffe_id, std::optional<std::chrono::system_clock::time_point>)>;
  void observeCertificates(CertificateObserver observer) { observer_ = std::move(observer); }

 private:
  void onRotate(const SpiffeId& id, std::shared_ptr<const WorkloadCertificate> c);

  std::string trust_domain_;
  std::shared_ptr<CertificateManager> manager_;
  std::map<std::string, std::shared_ptr<IdentityTls>> contexts_;
  std::map<std::string, int> refs_;
  uint64_t rotations_ = 0;
  CertificateObserver observer_;
};

}  // namespace ambit::identity
