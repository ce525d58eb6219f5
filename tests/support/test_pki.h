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
  enum class Validity {
    kCurrent,  // from an hour ago to a day from now
    kExpired,  // 2020-01-01 to 2020-01-02
  };
  // The X.509 shape of one certificate, each extension in openssl.cnf syntax ("" leaves it
  // out). The defaults make a valid X509-SVID leaf; an SVID rule test changes one field.
  struct Spec {
    std::string subject_cn = "workload";  // "" : an empty subject
    std::string san;  // e.g. "URI:spiffe://td/ns/a/sa/b"; "critical,..." marks it
    std::string basic_constraints = "critical,CA:FALSE";
    std::string key_usage = "critical,digitalSignature,keyAgreement";
    std::string ext_key_usage = "serverAuth,clientAuth";
    std::string name_constraints;  // e.g. "critical,permitted;URI:cluster.local"
    Validity validity = Validity::kCurrent;

    static Spec leaf(const std::string& uri_san);  // a valid leaf for uri_san ("" : no SAN)
    static Spec ca(const std::string& name);       // a valid signing certificate named `name`
  };

  // A fresh self-signed root named `ca_name`.
  explicit TestPki(const std::string& ca_name);
  // A fresh self-signed root of the given shape (to break a signing-certificate rule).
  explicit TestPki(const Spec& root);
  // An existing CA: its certificate and private key as PEM files. Throws std::runtime_error
  // naming the file when one cannot be read or parsed.
  static TestPki load(const std::filesystem::path& cert_pem, const std::filesystem::path& key_pem);
  TestPki(TestPki&&) noexcept;
  TestPki& operator=(TestPki&&) noexcept;
  ~TestPki();

  // A leaf for `uri_san` (e.g. "spiffe://cluster.local/ns/a/sa/b"); empty: no SAN at all.
  CertKey issue(const std::string& uri_san, Validity validity = Validity::kCurrent) const;
  // A certificate of any shape. Issued by an intermediate, cert_pem is the leaf followed by the
  // intermediates (what a TLS peer presents).
  CertKey issue(const Spec& spec) const;
  // A CA of shape `spec` signed by this one; it issues as an intermediate (trust this root's
  // caPem(), not the intermediate's).
  TestPki intermediate(const Spec& spec) const;
  // A server leaf for an IP address (an IP SAN, e.g. "127.0.0.1") that HTTPS clients check.
  CertKey issueForIp(const std::string& ip, Validity validity = Validity::kCurrent) const;
  const std::string& caPem() const { return ca_.cert_pem; }
  // The CA's own certificate and key (e.g. to write them where another process loads them).
  const CertKey& ca() const { return ca_; }

 private:
  struct Keys;
  TestPki(std::unique_ptr<Keys> keys, CertKey ca);
  std::unique_ptr<Keys> keys_;
  CertKey ca_;
  std::string chain_pem_;  // intermediates, this CA first (empty for a root)
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
