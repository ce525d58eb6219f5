#include "tests/support/test_pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <vector>

#include "tests/support/files.h"

namespace ambit::test {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using X509Ptr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("test PKI: " + what);
}

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(n));
}

std::string certPem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), x) == 1, "PEM_write_bio_X509");
  return bioString(bio.get());
}

std::string keyPem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bioString(bio.get());
}

void addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr newCert(EVP_PKEY* key, const std::string& cn, long serial) {  // NOLINT(runtime/int)
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key);
  if (cn.empty()) return x;  // an empty subject
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ambit test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return x;
}

// A certificate of shape `spec` for `key`, signed by issuer/issuer_key (null: self-signed).
X509Ptr makeCert(const TestPki::Spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  static long serial = 100;  // NOLINT(runtime/int)
  X509Ptr cert = newCert(key, spec.subject_cn, ++serial);
  if (spec.validity == TestPki::Validity::kExpired) {
    check(ASN1_TIME_set_string_X509(X509_getm_notBefore(cert.get()), "20200101000000Z") == 1 &&
              ASN1_TIME_set_string_X509(X509_getm_notAfter(cert.get()), "20200102000000Z") == 1,
          "ASN1_TIME_set_string_X509");
  }
  X509* self = cert.get();
  X509* signer = issuer != nullptr ? issuer : self;
  X509_set_issuer_name(self, X509_get_subject_name(signer));
  const bool is_ca = spec.basic_constraints.find("CA:TRUE") != std::string::npos;
  if (!spec.basic_constraints.empty()) {
    addExt(self, signer, NID_basic_constraints, spec.basic_constraints);
  }
  if (!spec.key_usage.empty()) addExt(self, signer, NID_key_usage, spec.key_usage);
  if (!spec.ext_key_usage.empty()) addExt(self, signer, NID_ext_key_usage, spec.ext_key_usage);
  if (is_ca) addExt(self, signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) addExt(self, signer, NID_authority_key_identifier, "keyid:always");
  if (!spec.name_constraints.empty()) {
    addExt(self, signer, NID_name_constraints, spec.name_constraints);
  }
  if (!spec.san.empty()) addExt(self, signer, NID_subject_alt_name, spec.san);
  check(X509_sign(self, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

}  // namespace

struct TestPki::Keys {
  PkeyPtr ca_key;
  X509Ptr ca_cert;
};

TestPki::Spec TestPki::Spec::leaf(const std::string& uri_san) {
  Spec s;
  if (!uri_san.empty()) s.san = "URI:" + uri_san;
  return s;
}

TestPki::Spec TestPki::Spec::ca(const std::string& name) {
  Spec s;
  s.subject_cn = name;
  s.basic_constraints = "critical,CA:TRUE";
  s.key_usage = "critical,keyCertSign,cRLSign";
  s.ext_key_usage.clear();
  return s;
}

TestPki::TestPki(std::unique_ptr<Keys> keys, CertKey ca) : keys_(std::move(keys)), ca_(ca) {}

TestPki::TestPki(const std::string& ca_name) : TestPki(Spec::ca(ca_name)) {}

TestPki::TestPki(const Spec& root) : keys_(std::make_unique<Keys>()) {
  keys_->ca_key.reset(EVP_EC_gen("P-256"));
  check(keys_->ca_key != nullptr, "EVP_EC_gen");
  keys_->ca_cert = makeCert(root, keys_->ca_key.get(), nullptr, nullptr);
  ca_ = CertKey{certPem(keys_->ca_cert.get()), keyPem(keys_->ca_key.get())};
}

TestPki TestPki::load(const std::filesystem::path& cert_pem, const std::filesystem::path& key_pem) {
  auto keys = std::make_unique<Keys>();
  CertKey ca{readFile(cert_pem), readFile(key_pem)};
  BioPtr cert_bio(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  keys->ca_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  check(keys->ca_cert != nullptr, "no PEM certificate in " + cert_pem.string());
  BioPtr key_bio(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  keys->ca_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  check(keys->ca_key != nullptr, "no PEM private key in " + key_pem.string());
  check(X509_check_private_key(keys->ca_cert.get(), keys->ca_key.get()) == 1,
        key_pem.string() + " is not the key of " + cert_pem.string());
  return TestPki(std::move(keys), std::move(ca));
}

TestPki::TestPki(TestPki&&) noexcept = default;
TestPki& TestPki::operator=(TestPki&&) noexcept = default;
TestPki::~TestPki() = default;

CertKey TestPki::issue(const std::string& uri_san, Validity validity) const {
  Spec spec = Spec::leaf(uri_san);
  spec.validity = validity;
  return issue(spec);
}

CertKey TestPki::issueForIp(const std::string& ip, Validity validity) const {
  Spec spec = Spec::leaf("");
  spec.san = "IP:" + ip;
  spec.validity = validity;
  return issue(spec);
}

CertKey TestPki::issue(const Spec& spec) const {
  PkeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  X509Ptr cert = makeCert(spec, key.get(), keys_->ca_cert.get(), keys_->ca_key.get());
  return CertKey{certPem(cert.get()) + chain_pem_, keyPem(key.get())};
}

TestPki TestPki::intermediate(const Spec& spec) const {
  auto keys = std::make_unique<Keys>();
  keys->ca_key.reset(EVP_EC_gen("P-256"));
  check(keys->ca_key != nullptr, "EVP_EC_gen");
  keys->ca_cert = makeCert(spec, keys->ca_key.get(), keys_->ca_cert.get(), keys_->ca_key.get());
  CertKey ca{certPem(keys->ca_cert.get()), keyPem(keys->ca_key.get())};
  TestPki out(std::move(keys), ca);
  out.chain_pem_ = ca.cert_pem + chain_pem_;
  return out;
}

PemFiles writePemFiles(const CertKey& cert_key, const std::filesystem::path& dir,
                       std::string_view name) {
  PemFiles files{(dir / (std::string(name) + ".pem")).string(),
                 (dir / (std::string(name) + ".key")).string()};
  writeFile(files.cert, cert_key.cert_pem);
  writeFile(files.key, cert_key.key_pem);
  return files;
}

std::shared_ptr<boost::asio::ssl::context> makeContext(const CertKey* identity,
                                                       const std::string& ca_pem) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  if (identity != nullptr) {
    ctx->use_certificate_chain(boost::asio::buffer(identity->cert_pem));
    ctx->use_private_key(boost::asio::buffer(identity->key_pem), ssl::context::pem);
  }
  ctx->add_certificate_authority(boost::asio::buffer(ca_pem));
  return ctx;
}

hbone::PeerVerifier spiffeVerifier(const std::string& trust_domain) {
  return [prefix = "spiffe://" + trust_domain + "/"](X509* leaf,
                                                     STACK_OF(X509)*) -> Result<std::string> {
    std::unique_ptr<GENERAL_NAMES, Free> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
    std::vector<std::string> uris;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
      uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                        static_cast<size_t>(ASN1_STRING_length(s)));
    }
    if (uris.size() != 1) return makeError("want exactly one URI SAN, got {}", uris.size());
    if (uris[0].rfind(prefix, 0) != 0) {
      return makeError("SPIFFE id {} is outside trust domain {}", uris[0], prefix);
    }
    return uris[0];
  };
}

}  // namespace ambit::test
