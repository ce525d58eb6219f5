#pragma once
// Test-only PKI: an in-memory ECDSA P-256 CA that issues leaf certificates with one SPIFFE URI
// SAN, TLS contexts built from them, and a minimal SPIFFE PeerVerifier (the production one
// lives in common/identity; this library must not depend on it).

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/hbone/tls.h"

namespace ambit::hbone::testing {

struct CertKey {
  std::string cert_pem;
  std::string key_pem;
};

class TestPki {
 public:
  explicit TestPki(const std::string& ca_name);
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // A leaf for `uri_san` (e.g. "spiffe://cluster.local/ns/a/sa/b"); empty: no SAN at all.
  CertKey issue(const std::string& uri_san) const;
  const std::string& caPem() const { return ca_.cert_pem; }

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
  CertKey ca_;
};

// A TLS context presenting `identity` (may be empty: no certificate) and trusting `ca_pem`.
std::shared_ptr<boost::asio::ssl::context> makeContext(const CertKey* identity,
                                                       const std::string& ca_pem);

// Accepts exactly one URI SAN of the form spiffe://<trust_domain>/...
PeerVerifier spiffeVerifier(const std::string& trust_domain);

// Writes `content` to `path` (for the python interop client).
void writeFile(const std::string& path, const std::string& content);

}  // namespace ambit::hbone::testing
