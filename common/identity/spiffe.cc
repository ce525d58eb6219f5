#include "common/identity/spiffe.h"

#include <openssl/x509v3.h>

#include <vector>

#include "common/identity/openssl_ptr.h"

namespace ambit::identity {
namespace {

constexpr std::string_view kScheme = "spiffe://";

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Kubernetes DNS-1123 label / subdomain rules (allowDots selects the subdomain form).
Status validateName(std::string_view what, std::string_view name, size_t maxLen, bool allowDots) {
  if (name.empty()) return makeError("{} is empty", what);
  if (name.size() > maxLen) return makeError("{} '{}' is longer than {}", what, name, maxLen);
  for (char c : name) {
    if (!isLowerAlnum(c) && c != '-' && !(allowDots && c == '.')) {
      return makeError("{} '{}' has invalid character '{}' (allowed: a-z 0-9 -{})", what, name, c,
                       allowDots ? " ." : "");
    }
  }
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
    return makeError("{} '{}' must start and end with a letter or digit", what, name);
  }
  return Status::ok();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t pos = s.find(sep); pos != std::string_view::npos; pos = s.find(sep, start)) {
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

Status validateTrustDomain(std::string_view td) {
  if (td.empty()) return makeError("trust domain is empty");
  if (td.size() > 255) return makeError("trust domain '{}' is longer than 255", td);
  for (char c : td) {
    if (!isLowerAlnum(c) && c != '-' && c != '.' && c != '_') {
      return makeError("trust domain '{}' has invalid character '{}' (allowed: a-z 0-9 . - _)", td,
                       c);
    }
  }
  for (std::string_view label : split(td, '.')) {
    if (label.empty()) return makeError("trust domain '{}' has an empty label", td);
  }
  return Status::ok();
}

Result<SpiffeId> SpiffeId::make(std::string_view td, std::string_view ns, std::string_view sa) {
  AMBIT_TRY(validateTrustDomain(td));
  AMBIT_TRY(validateName("namespace", ns, 63, false));
  AMBIT_TRY(validateName("service account", sa, 253, true));
  return SpiffeId{std::string(td), std::string(ns), std::string(sa)};
}

Result<SpiffeId> SpiffeId::parse(std::string_view uri) {
  auto fail = [&](std::string_view why) {
    return makeError("invalid SPIFFE id '{}': {} (want spiffe://<trust-domain>/ns/<ns>/sa/<sa>)",
                     uri, why);
  };
  if (!uri.starts_with(kScheme)) return fail("scheme must be spiffe://");
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return fail("no path");
  std::vector<std::string_view> segs = split(rest.substr(slash + 1), '/');
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa") {
    return fail("path must be exactly /ns/<ns>/sa/<sa>");
  }
  auto id = make(rest.substr(0, slash), segs[1], segs[3]);
  if (!id) return fail(id.error().message);
  return id;
}

std::string SpiffeId::toString() const {
  return fmt::format("{}{}/ns/{}/sa/{}", kScheme, trustDomain, ns, serviceAccount);
}

Result<SpiffeId> spiffeIdFromCertificate(const X509* cert) {
  if (cert == nullptr) return makeError("no certificate");
  int crit = 0;
  ossl::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (!names) {
    ERR_clear_error();
    if (crit == -2) return makeError("certificate has several subjectAltName extensions");
    return makeError("certificate has no subjectAltName (want one SPIFFE URI)");
  }
  std::string_view uri;
  int uris = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    ++uris;
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    uri = std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
  }
  if (uris != 1) {
    return makeError("certificate has {} URI SANs, want exactly one SPIFFE id", uris);
  }
  return SpiffeId::parse(uri);
}

Status checkTrustDomain(const SpiffeId& id, std::string_view trustDomain) {
  if (id.trustDomain != trustDomain) {
    return makeError("identity {} is not in trust domain '{}'", id.toString(), trustDomain);
  }
  return Status::ok();
}

}  // namespace ambit::identity
