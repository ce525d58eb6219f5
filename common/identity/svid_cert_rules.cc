// X509-SVID.md rules on certificates and on CSRs (the rule table: svid_rules.cc). Extensions
// are read from the raw extension list with X509V3_get_d2i, so a certificate and a CSR are
// checked by the same code and a duplicated or undecodable extension is noticed (crit -2 / a
// null result), never silently skipped.

#include <openssl/x509v3.h>

#include <vector>

#include "common/identity/openssl_ptr.h"
#include "common/identity/svid_rules.h"

namespace ambit::identity {
namespace {

using Extensions = const STACK_OF(X509_EXTENSION) *;
using BasicConstraintsPtr =
    std::unique_ptr<BASIC_CONSTRAINTS, ossl::FreeWith<BASIC_CONSTRAINTS_free>>;
using BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, ossl::FreeWith<ASN1_BIT_STRING_free>>;
using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, ossl::FreeWith<EXTENDED_KEY_USAGE_free>>;

// keyUsage bit positions (RFC 5280 §4.2.1.3).
constexpr int kDigitalSignatureBit = 0;
constexpr int kKeyCertSignBit = 5;
constexpr int kCrlSignBit = 6;

// One decoded extension: value null and crit -1 when absent. crit -2 (several) and an
// undecodable value are reported as breaking `rule`.
template <typename Ptr>
struct Decoded {
  Ptr value;
  int crit = -1;
};

template <typename Ptr>
Result<Decoded<Ptr>> decode(Extensions exts, int nid, SvidRule rule) {
  Decoded<Ptr> d;
  d.value.reset(static_cast<typename Ptr::pointer>(X509V3_get_d2i(exts, nid, &d.crit, nullptr)));
  ERR_clear_error();
  if (d.crit == -2) return ruleError(rule, fmt::format("several {} extensions", OBJ_nid2ln(nid)));
  if (!d.value && d.crit >= 0) {
    return ruleError(rule, fmt::format("the {} extension does not decode", OBJ_nid2ln(nid)));
  }
  return d;
}

struct Sans {
  std::vector<std::string> uris;
  int others = 0;  // SANs of any other type
  int crit = -1;   // -1: no subjectAltName extension
};

Result<Sans> readSans(Extensions exts) {
  auto d = decode<ossl::GeneralNamesPtr>(exts, NID_subject_alt_name, SvidRule::kOneUriSan);
  AMBIT_TRY(d);
  Sans sans;
  sans.crit = d->crit;
  for (int i = 0; d->value && i < sk_GENERAL_NAME_num(d->value.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(d->value.get(), i);
    if (gn->type != GEN_URI) {
      ++sans.others;
      continue;
    }
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    sans.uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return sans;
}

Result<SpiffeUri> oneSpiffeUri(const Sans& sans) {
  if (sans.uris.size() != 1) {
    return ruleError(SvidRule::kOneUriSan,
                     fmt::format("{} URI SANs, want exactly one SPIFFE id", sans.uris.size()));
  }
  return parseSpiffeUri(sans.uris.front());
}

// X509-SVID §3.1: without a subject, the SAN is the only name and must be critical.
Status checkSanCritical(const X509* cert, const Sans& sans) {
  if (X509_NAME_entry_count(X509_get_subject_name(cert)) == 0 && sans.crit != 1) {
    return ruleError(SvidRule::kUriSanCritical,
                     "the subject is empty but the subjectAltName extension is not critical");
  }
  return Status::ok();
}

// basicConstraints cA; false when the extension is absent (its DEFAULT).
Result<bool> isCa(Extensions exts, SvidRule rule) {
  auto bc = decode<BasicConstraintsPtr>(exts, NID_basic_constraints, rule);
  AMBIT_TRY(bc);
  return bc->value && bc->value->ca != 0;
}

// keyUsage, which every SVID must carry, critical.
Result<BitStringPtr> keyUsage(Extensions exts) {
  auto ku = decode<BitStringPtr>(exts, NID_key_usage, SvidRule::kKeyUsagePresent);
  AMBIT_TRY(ku);
  if (!ku->value) return ruleError(SvidRule::kKeyUsagePresent, "no keyUsage extension");
  if (ku->crit != 1) return ruleError(SvidRule::kKeyUsageCritical, "keyUsage is not critical");
  return std::move(ku->value);
}

bool bit(const ASN1_BIT_STRING* bits, int n) { return ASN1_BIT_STRING_get_bit(bits, n) == 1; }

// Rules on the usages a leaf (or a CSR for one) asks for; digitalSignature is required only of
// certificates (a CSR need not request any keyUsage).
Status checkLeafUsages(const ASN1_BIT_STRING* ku, bool requireDigitalSignature) {
  if (ku == nullptr) return Status::ok();
  if (requireDigitalSignature && !bit(ku, kDigitalSignatureBit)) {
    return ruleError(SvidRule::kLeafDigitalSig, "keyUsage lacks digitalSignature");
  }
  if (bit(ku, kKeyCertSignBit)) {
    return ruleError(SvidRule::kLeafNoKeyCertSign, "keyUsage sets keyCertSign on a leaf");
  }
  if (bit(ku, kCrlSignBit)) {
    return ruleError(SvidRule::kLeafNoCrlSign, "keyUsage sets cRLSign on a leaf");
  }
  return Status::ok();
}

Status checkLeafEku(Extensions exts) {
  auto eku = decode<EkuPtr>(exts, NID_ext_key_usage, SvidRule::kLeafEku);
  AMBIT_TRY(eku);
  if (!eku->value) return Status::ok();  // SHOULD be present; absent is allowed
  bool server = false;
  bool client = false;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku->value.get()); ++i) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku->value.get(), i));
    server = server || nid == NID_server_auth;
    client = client || nid == NID_client_auth;
  }
  if (!server || !client) {
    return ruleError(
        SvidRule::kLeafEku,
        fmt::format("extendedKeyUsage lacks {}", !server && !client ? "serverAuth and clientAuth"
                                                 : !server          ? "serverAuth"
                                                                    : "clientAuth"));
  }
  return Status::ok();
}

}  // namespace

Result<SpiffeUri> certificateSpiffeUri(const X509* cert) {
  if (cert == nullptr) return makeError("no certificate");
  auto sans = readSans(X509_get0_extensions(cert));
  AMBIT_TRY(sans);
  return oneSpiffeUri(*sans);
}

Result<SpiffeUri> checkLeafSvid(const X509* leaf) {
  if (leaf == nullptr) return makeError("no certificate");
  Extensions exts = X509_get0_extensions(leaf);
  auto sans = readSans(exts);
  AMBIT_TRY(sans);
  auto uri = oneSpiffeUri(*sans);
  AMBIT_TRY(uri);
  AMBIT_TRY(checkSanCritical(leaf, *sans));
  if (uri->path.empty()) {
    return ruleError(SvidRule::kLeafPath,
                     fmt::format("leaf id {} has no path (a trust domain's id is not a workload)",
                                 uri->toString()));
  }
  auto ca = isCa(exts, SvidRule::kLeafNotCa);
  AMBIT_TRY(ca);
  if (*ca) {
    return ruleError(SvidRule::kLeafNotCa,
                     "basicConstraints cA is TRUE: a signing certificate cannot authenticate");
  }
  auto ku = keyUsage(exts);
  AMBIT_TRY(ku);
  AMBIT_TRY(checkLeafUsages(ku->get(), true));
  AMBIT_TRY(checkLeafEku(exts));
  return uri;
}

Status checkSigningCertificate(const X509* cert, std::string_view what) {
  auto fail = [&](const Error& e) { return e.context(what); };
  if (cert == nullptr) return makeError("{}: no certificate", what);
  Extensions exts = X509_get0_extensions(cert);
  auto ca = isCa(exts, SvidRule::kSigningCa);
  if (!ca) return fail(ca.error());
  if (!*ca) return fail(ruleError(SvidRule::kSigningCa, "basicConstraints cA is not TRUE"));
  auto ku = keyUsage(exts);
  if (!ku) return fail(ku.error());
  if (!bit(ku->get(), kKeyCertSignBit)) {
    return fail(ruleError(SvidRule::kSigningKeyCertSign, "keyUsage lacks keyCertSign"));
  }
  auto sans = readSans(exts);
  if (!sans) return fail(sans.error());
  if (sans->uris.empty()) return Status::ok();  // a signing certificate SHOULD be an SVID
  auto uri = oneSpiffeUri(*sans);
  if (!uri) return fail(uri.error());
  if (Status st = checkSanCritical(cert, *sans); !st) return fail(st.error());
  if (!uri->path.empty()) {
    return fail(ruleError(SvidRule::kSigningIdNoPath,
                          fmt::format("signing certificate id {} has a path", uri->toString())));
  }
  return Status::ok();
}

Result<SpiffeId> checkPeerSvid(const X509* leaf, const STACK_OF(X509) * chain,
                               std::string_view trustDomain) {
  auto uri = checkLeafSvid(leaf);
  if (!uri) return uri.error().context("peer certificate");
  const int n = chain == nullptr ? 0 : sk_X509_num(chain);
  for (int i = 1; i < n; ++i) {
    std::string what = i == n - 1 ? "peer trust anchor" : fmt::format("peer intermediate {}", i);
    AMBIT_TRY(checkSigningCertificate(sk_X509_value(chain, i), what));
  }
  auto id = SpiffeId::parse(uri->toString());
  if (!id) return id.error().context("peer certificate");
  if (!trustDomain.empty()) AMBIT_TRY(checkTrustDomain(*id, trustDomain));
  return id;
}

Result<SpiffeUri> checkCsrRequest(X509_REQ* csr) {
  ossl::X509ExtensionStackPtr owned(X509_REQ_get_extensions(csr));
  ERR_clear_error();
  Extensions exts = owned.get();
  auto sans = readSans(exts);
  AMBIT_TRY(sans);
  if (sans->others > 0) {
    return ruleError(SvidRule::kCsrOnlyUriSan,
                     fmt::format("{} SAN(s) other than the SPIFFE URI requested", sans->others));
  }
  auto uri = oneSpiffeUri(*sans);
  AMBIT_TRY(uri);
  if (uri->path.empty()) {
    return ruleError(SvidRule::kLeafPath,
                     fmt::format("requested id {} has no path", uri->toString()));
  }
  auto ca = isCa(exts, SvidRule::kLeafNotCa);
  AMBIT_TRY(ca);
  if (*ca) return ruleError(SvidRule::kLeafNotCa, "the CSR requests basicConstraints cA TRUE");
  auto ku = decode<BitStringPtr>(exts, NID_key_usage, SvidRule::kKeyUsagePresent);
  AMBIT_TRY(ku);
  AMBIT_TRY(checkLeafUsages(ku->value.get(), false));
  AMBIT_TRY(checkLeafEku(exts));
  return uri;
}

}  // namespace ambit::identity
