#include "common/identity/spiffe.h"

#include <vector>

#include "common/identity/svid_rules.h"

namespace ambit::identity {
namespace {

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
  auto generic = parseSpiffeUri(uri);
  if (!generic) return generic.error().context(fmt::format("invalid SPIFFE id '{}'", uri));
  auto fail = [&](std::string_view why) {
    return ruleError(SvidRule::kAmbitIdShape,
                     fmt::format("invalid SPIFFE id '{}': {} (want "
                                 "spiffe://<trust-domain>/ns/<ns>/sa/<sa>)",
                                 uri, why));
  };
  if (generic->path.empty()) return fail("no path");
  std::vector<std::string_view> segs = split(std::string_view(generic->path).substr(1), '/');
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa") {
    return fail("path must be exactly /ns/<ns>/sa/<sa>");
  }
  auto id = make(generic->trustDomain, segs[1], segs[3]);
  if (!id) return fail(id.error().message);
  return id;
}

std::string SpiffeId::toString() const {
  return fmt::format("spiffe://{}/ns/{}/sa/{}", trustDomain, ns, serviceAccount);
}

Result<SpiffeId> spiffeIdFromCertificate(const X509* cert) {
  auto uri = certificateSpiffeUri(cert);
  AMBIT_TRY(uri);
  return SpiffeId::parse(uri->toString());
}

Status checkTrustDomain(const SpiffeId& id, std::string_view trustDomain) {
  if (id.trustDomain != trustDomain) {
    return ruleError(SvidRule::kTrustDomain, fmt::format("identity {} is not in trust domain '{}'",
                                                         id.toString(), trustDomain));
  }
  return Status::ok();
}

}  // namespace ambit::identity
