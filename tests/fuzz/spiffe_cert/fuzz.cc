// Fuzzes SPIFFE id and certificate parsing (common/identity/): the first input byte picks the
// surface, the rest is its input:
//   0  a URI into SpiffeId::parse and parseSpiffeUri (the SPIFFE-ID rules); a parsed id must
//      print back to the same URI and parse again, and ambit's ids are SPIFFE ids;
//   1  a DER certificate, as a TLS peer presents it: the SPIFFE id of its URI SAN
//      (spiffeIdFromCertificate), the X509-SVID leaf and signing rules (checkLeafSvid,
//      checkSigningCertificate) and chain verification against a CA's root (verifyPeerChain);
//   2  a PEM bundle (parseCertificateBundlePem: roots and chains from the CA and Secrets);
//   3  a DER certificate signing request, wrapped in PEM, signed by the embedded CA
//      (EmbeddedCa::sign: the CSR checks of the CertificateService); whatever it issues must
//      meet every leaf rule (checkLeafSvid).
#include <openssl/pem.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/identity/ca.h"
#include "common/identity/pem.h"
#include "common/identity/spiffe.h"
#include "common/identity/svid_rules.h"
#include "common/identity/verify.h"
#include "common/log.h"

namespace {

using namespace ambit;
using namespace ambit::identity;

struct Ca {
  std::unique_ptr<EmbeddedCa> ca;
  ossl::X509StorePtr store;
};

const Ca& testCa() {
  static const Ca ca = [] {
    EmbeddedCaOptions options;
    options.trustDomain = "cluster.local";
    auto material = EmbeddedCa::generateMaterial(options);
    if (!material) abort();
    auto embedded = EmbeddedCa::fromMaterial(*material, options, "fuzz");
    if (!embedded) abort();
    auto root = parseCertificatePem(material->rootPem);
    if (!root) abort();
    std::vector<ossl::X509Ptr> roots;
    roots.push_back(std::move(*root));
    auto store = buildTrustStore(roots);
    if (!store) abort();
    return Ca{std::move(*embedded), std::move(*store)};
  }();
  return ca;
}

std::string derToPem(const std::string& der, const char* label) {
  std::string pem = std::string("-----BEGIN ") + label + "-----\n";
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                          reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<int>(der.size()));
  b64.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END " + label + "-----\n";
}

void fuzzId(const std::string& uri) {
  auto generic = parseSpiffeUri(uri);
  if (generic && generic->toString() != uri) {
    fprintf(stderr, "SPIFFE URI does not round-trip: '%s'\n", uri.c_str());
    abort();
  }
  auto id = SpiffeId::parse(uri);
  if (!id) return;
  if (!generic) {
    fprintf(stderr, "ambit accepted an id the SPIFFE rules refuse: '%s'\n", uri.c_str());
    abort();
  }
  auto again = SpiffeId::parse(id->toString());
  if (id->toString() != uri || !again || *again != *id) {
    fprintf(stderr, "SPIFFE id does not round-trip: '%s'\n", uri.c_str());
    abort();
  }
  (void)checkTrustDomain(*id, "cluster.local");
}

void fuzzCertificate(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return;
  (void)spiffeIdFromCertificate(cert.get());
  (void)checkLeafSvid(cert.get());
  (void)checkSigningCertificate(cert.get(), "fuzz");
  PeerVerifyOptions options;
  options.trustDomain = "cluster.local";
  (void)verifyPeerChain(testCa().store.get(), cert.get(), {cert.get()}, options);
}

void fuzzBundle(const std::string& pem) {
  auto certs = parseCertificateBundlePem(pem);
  if (!certs) return;
  for (const auto& c : *certs) (void)spiffeIdFromCertificate(c.get());
}

void fuzzCsr(const std::string& der) {
  auto issued = testCa().ca->sign(derToPem(der, "CERTIFICATE REQUEST"), std::chrono::hours(1),
                                  [](const SpiffeId&) { return Status::ok(); });
  if (!issued) return;
  auto leaf = parseCertificatePem(issued->chainPem.front());
  if (!leaf || !spiffeIdFromCertificate(leaf->get())) {
    fprintf(stderr, "the CA issued a certificate without a valid SPIFFE id\n");
    abort();
  }
  if (auto checked = checkLeafSvid(leaf->get()); !checked) {
    fprintf(stderr, "the CA issued a certificate breaking an SVID rule: %s\n",
            checked.error().message.c_str());
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", "off");
  (void)testCa();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzzId(rest);
      break;
    case 1:
      fuzzCertificate(rest);
      break;
    case 2:
      fuzzBundle(rest);
      break;
    default:
      fuzzCsr(rest);
      break;
  }
  return 0;
}
