#include "common/identity/x509_builder.h"

#include <openssl/rand.h>

#include "common/identity/csr.h"

namespace ambit::identity::x509 {
namespace {

Status setTime(ASN1_TIME* field, TimePoint t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (ASN1_TIME_set(field, static_cast<time_t>(secs)) == nullptr) {
    return ossl::opensslError("set certificate time");
  }
  return Status::ok();
}

Status setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return ossl::opensslError("random serial");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // full 16 bytes long, never zero
  ossl::BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  ossl::Asn1IntegerPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return ossl::opensslError("set serial");
  }
  return Status::ok();
}

TimePoint fromAsn1(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<ossl::X509Ptr> newCertificate(EVP_PKEY* publicKey, TimePoint notBefore, TimePoint notAfter) {
  ossl::X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), publicKey) != 1) {
    return ossl::opensslError("create certificate");
  }
  AMBIT_TRY(setRandomSerial(cert.get()));
  AMBIT_TRY(setTime(X509_getm_notBefore(cert.get()), notBefore));
  AMBIT_TRY(setTime(X509_getm_notAfter(cert.get()), notAfter));
  return cert;
}

Result<ossl::X509NamePtr> makeName(
    const std::vector<std::pair<std::string, std::string>>& entries) {
  ossl::X509NamePtr name(X509_NAME_new());
  if (!name) return ossl::opensslError("allocate name");
  for (const auto& [field, value] : entries) {
    if (X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      return ossl::opensslError(fmt::format("add name entry {}={}", field, value));
    }
  }
  return name;
}

Status addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ossl::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return ossl::opensslError(fmt::format("add extension {}={}", OBJ_nid2sn(nid), value));
  }
  return Status::ok();
}

Status addUriSan(X509* cert, const std::string& uri, const std::vector<std::string>& dnsNames) {
  auto names = makeUriNames({uri}, dnsNames);
  AMBIT_TRY(names);
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names->get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return ossl::opensslError("add subjectAltName");
  }
  return Status::ok();
}

Status signSha256(X509* cert, EVP_PKEY* issuerKey) {
  if (X509_sign(cert, issuerKey, EVP_sha256()) <= 0) return ossl::opensslError("sign certificate");
  return Status::ok();
}

TimePoint notAfter(const X509* cert) { return fromAsn1(X509_get0_notAfter(cert)); }
TimePoint notBefore(const X509* cert) { return fromAsn1(X509_get0_notBefore(cert)); }

}  // namespace ambit::identity::x509
