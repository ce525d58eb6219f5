#include "common/identity/csr.h"

#include <arpa/inet.h>

#include "common/identity/pem.h"

namespace ambit::identity {

Result<ossl::GeneralNamesPtr> makeUriNames(const std::vector<std::string>& uris,
                                           const std::vector<std::string>& dnsNames) {
  ossl::GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return ossl::opensslError("allocate GENERAL_NAMES");
  auto push = [&](int type, const std::string& value) -> Status {
    ossl::GeneralNamePtr gn(GENERAL_NAME_new());
    ASN1_STRING* str = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (!gn || str == nullptr ||
        ASN1_STRING_set(str, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_STRING_free(str);
      return ossl::opensslError("build SAN");
    }
    GENERAL_NAME_set0_value(gn.get(), type, str);
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) == 0) {
      return ossl::opensslError("build SAN list");
    }
    gn.release();  // owned by names now
    return Status::ok();
  };
  for (const std::string& uri : uris) AMBIT_TRY(push(GEN_URI, uri));
  for (const std::string& name : dnsNames) {
    // An address (a client dialing ambit-control by IP) becomes an IP SAN, its raw bytes.
    unsigned char raw[16];
    if (::inet_pton(AF_INET, name.c_str(), raw) == 1) {
      AMBIT_TRY(push(GEN_IPADD, std::string(reinterpret_cast<char*>(raw), 4)));
    } else if (::inet_pton(AF_INET6, name.c_str(), raw) == 1) {
      AMBIT_TRY(push(GEN_IPADD, std::string(reinterpret_cast<char*>(raw), 16)));
    } else {
      AMBIT_TRY(push(GEN_DNS, name));
    }
  }
  return names;
}

Result<std::string> createCsrPem(EVP_PKEY* key, const std::vector<std::string>& uris) {
  ossl::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1) {
    return ossl::opensslError("create CSR");
  }
  if (!uris.empty()) {
    auto names = makeUriNames(uris);
    AMBIT_TRY(names);
    ossl::X509ExtensionStackPtr exts(sk_X509_EXTENSION_new_null());
    ossl::X509ExtensionPtr san(X509V3_EXT_i2d(NID_subject_alt_name, 1, names->get()));
    if (!exts || !san || sk_X509_EXTENSION_push(exts.get(), san.get()) == 0) {
      return ossl::opensslError("build CSR subjectAltName");
    }
    san.release();  // owned by exts now
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return ossl::opensslError("add CSR extensions");
    }
  }
  if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) return ossl::opensslError("sign CSR");
  return csrToPem(req.get());
}

Result<WorkloadKeyAndCsr> createWorkloadCsr(const SpiffeId& id) {
  auto key = generateP256Key();
  AMBIT_TRY(key);
  auto pem = createCsrPem(key->get(), {id.toString()});
  AMBIT_TRY(pem);
  return WorkloadKeyAndCsr{std::move(*key), std::move(*pem)};
}

}  // namespace ambit::identity
