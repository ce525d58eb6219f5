#pragma once
// PEM and key helpers shared by the CA, the CSR builder, the certificate manager and tests.
// All functions are thread-safe (no shared state) and return errors naming what failed.

#include <string>
#include <string_view>
#include <vector>

#include "common/identity/openssl_ptr.h"
#include "common/status.h"

namespace ambit::identity {

// A fresh ECDSA P-256 key (the only workload and CA key type ambit issues or accepts).
[[nodiscard]] Result<ossl::EvpPkeyPtr> generateP256Key();
// Error unless key is an EC key on P-256; the message names the actual type or curve.
[[nodiscard]] Status requireP256(const EVP_PKEY* key, std::string_view what);

[[nodiscard]] Result<std::string> privateKeyToPem(const EVP_PKEY* key);  // PKCS#8, unencrypted
[[nodiscard]] Result<std::string> certificateToPem(const X509* cert);
[[nodiscard]] Result<std::string> csrToPem(const X509_REQ* csr);

[[nodiscard]] Result<ossl::EvpPkeyPtr> parsePrivateKeyPem(std::string_view pem);
[[nodiscard]] Result<ossl::X509Ptr> parseCertificatePem(std::string_view pem);
[[nodiscard]] Result<ossl::X509ReqPtr> parseCsrPem(std::string_view pem);
// Every certificate in a PEM bundle, in order; error when there is none.
[[nodiscard]] Result<std::vector<ossl::X509Ptr>> parseCertificateBundlePem(std::string_view pem);

}  // namespace ambit::identity
