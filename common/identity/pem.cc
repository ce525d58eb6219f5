#include "common/identity/pem.h"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

namespace ambit::identity {
namespace {

ossl::BioPtr readBio(std::string_view pem) {
  return ossl::BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

template <typename WriteFn>
Result<std::string> writePem(std::string_view what, WriteFn&& write) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return ossl::opensslError(fmt::format("encode {} PEM", what));
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

Result<ossl::EvpPkeyPtr> generateP256Key() {
  ossl::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return ossl::opensslError("generate ECDSA P-256 key");
  return key;
}

Status requireP256(const EVP_PKEY* key, std::string_view what) {
  if (key == nullptr) return makeError("{}: no public key", what);
  if (!EVP_PKEY_is_a(key, "EC")) {
    return makeError("{}: key type is {}, want ECDSA P-256", what, EVP_PKEY_get0_type_name(key));
  }
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
    ERR_clear_error();
    return makeError("{}: EC key without a named curve, want ECDSA P-256", what);
  }
  if (OBJ_sn2nid(group) != NID_X9_62_prime256v1 && std::string_view(group) != "P-256") {
    return makeError("{}: EC curve is {}, want P-256 (prime256v1)", what, group);
  }
  return Status::ok();
}

Result<std::string> privateKeyToPem(const EVP_PKEY* key) {
  return writePem("private key", [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<std::string> certificateToPem(const X509* cert) {
  return writePem("certificate", [&](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

Result<std::string> csrToPem(const X509_REQ* csr) {
  return writePem("CSR", [&](BIO* b) { return PEM_write_bio_X509_REQ(b, csr); });
}

Result<ossl::EvpPkeyPtr> parsePrivateKeyPem(std::string_view pem) {
  auto bio = readBio(pem);
  ossl::EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return ossl::opensslError("parse private key PEM");
  return key;
}

Result<ossl::X509Ptr> parseCertificatePem(std::string_view pem) {
  auto bio = readBio(pem);
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return ossl::opensslError("parse certificate PEM");
  return cert;
}

Result<ossl::X509ReqPtr> parseCsrPem(std::string_view pem) {
  auto bio = readBio(pem);
  ossl::X509ReqPtr csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!csr) return ossl::opensslError("parse CSR PEM");
  return csr;
}

Result<std::vector<ossl::X509Ptr>> parseCertificateBundlePem(std::string_view pem) {
  auto bio = readBio(pem);
  std::vector<ossl::X509Ptr> certs;
  while (true) {
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE &&
      !certs.empty()) {
    ERR_clear_error();  // normal end of the bundle
    return certs;
  }
  if (certs.empty()) return ossl::opensslError("parse certificate bundle PEM: no certificate");
  return ossl::opensslError("parse certificate bundle PEM");
}

}  // namespace ambit::identity
