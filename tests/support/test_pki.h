#pragma once
// Test PKI: an ECDSA P-256 CA in memory (fresh, or an existing one loaded from PEM files such as
// a lab's) that issues leaf certificates with one SPIFFE URI SAN on demand, TLS contexts built
// from them, and a minimal SPIFFE PeerVerifier (the production one lives in common/identity,
// which the HBONE library and its tests must not depend on).

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/hbone/tls.h"

namespace ambit::test {

struct CertKey {
  std::string cert_pem;
  std::string key_pem;
};

class TestPki {
 public:
  // A fresh self-signed root named `ca_name`.
  explicit TestPki(const std::string& ca_name);
  // An existing CA: its certificate and private key as PEM files. Throws std::runtime_error
  // naming the file when one cannot be read or parsed.
  static TestPki load(const std::filesystem::path& cert_pem, const std::filesystem::path& key_pem);
  TestPki(TestPki&&) noexcept;
  TestPki& operator=(TestPki&&) noexcept;
  ~TestPki();

  enum class Validity {
    kCurrent,  // from an hour ago to a day from now
    kExpired,  // 2020-01-01 to 2020-01-02
  };
  // A leaf for `uri_san` (e.g. "spiffe://cluster.local/ns/a/sa/b"); empty: no SAN at all.
  CertKey issue(const std::string& uri_san, Validity validity = Validity::kCurrent) const;
  // A server leaf for an IP address (an IP SAN, e.g. "127.0.0.1") that HTTPS clients check.
  CertKey issueForIp(const std::string& ip, Validity validity = Validity::kCurrent) const;
  const std::string& caPem() const { return ca_.cert_pem; }
  // The CA's own certificate and key (e.g. to write them where another process loads them).
  const CertKey& ca() const { return ca_; }

 private:
  struct Keys;
  TestPki(std::unique_ptr<Keys> keys, CertKey ca);
  // `san` in OpenSSL's configuration form ("URI:...", "IP:..."); empty: no SAN.
  CertKey issueWithSan(const std::string& san, Validity validity) const;
  std::unique_ptr<Keys> keys_;
  CertKey ca_;
};

// A certificate and its key written as <dir>/<name>.pem and <dir>/<name>.key (for peers that
// read files, such as python clients).
struct PemFiles {
  std::string cert;
  std::string key;
};
PemFiles writePemFiles(const CertKey& cert_key, const std::filesystem::path& dir,
                       std::string_view name);

// A TLS context presenting `identity` (may be null: no certificate) and trusting `ca_pem`.
std::shared_ptr<boost::asio::ssl::context> makeContext(const CertKey* identity,
                                                       const std::string& ca_pem);

// Accepts exactly one URI SAN of the form spiffe://<trust_domain>/...
hbone::PeerVerifier spiffeVerifier(const std::string& trust_domain);

}  // namespace ambit::test
