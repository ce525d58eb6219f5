// The rule table and the SPIFFE id syntax rules (SPIFFE-ID.md §2). The certificate and CSR
// rules are in svid_cert_rules.cc.

#include "common/identity/svid_rules.h"

#include <array>

namespace ambit::identity {
namespace {

struct RuleInfo {
  SvidRule rule;
  std::string_view name;
  std::string_view source;
};

constexpr std::array kRules = {
    RuleInfo{SvidRule::kIdScheme, "id-scheme", "SPIFFE-ID §2, X509-SVID §5.2"},
    RuleInfo{SvidRule::kIdTrustDomainEmpty, "id-trust-domain-empty", "SPIFFE-ID §2, §2.1"},
    RuleInfo{SvidRule::kIdUserinfo, "id-userinfo", "SPIFFE-ID §2.1"},
    RuleInfo{SvidRule::kIdPort, "id-port", "SPIFFE-ID §2.1"},
    RuleInfo{SvidRule::kIdTrustDomainChars, "id-trust-domain-chars", "SPIFFE-ID §2.1"},
    RuleInfo{SvidRule::kIdTrustDomainPercent, "id-trust-domain-percent", "SPIFFE-ID §2.1"},
    RuleInfo{SvidRule::kIdTrustDomainLength, "id-trust-domain-length", "SPIFFE-ID §2.3"},
    RuleInfo{SvidRule::kIdQuery, "id-query", "SPIFFE-ID §2"},
    RuleInfo{SvidRule::kIdFragment, "id-fragment", "SPIFFE-ID §2"},
    RuleInfo{SvidRule::kIdPathPercent, "id-path-percent", "SPIFFE-ID §2.2"},
    RuleInfo{SvidRule::kIdPathEmptySegment, "id-path-empty-segment", "SPIFFE-ID §2.2"},
    RuleInfo{SvidRule::kIdPathDotSegment, "id-path-dot-segment", "SPIFFE-ID §2.2"},
    RuleInfo{SvidRule::kIdPathTrailingSlash, "id-path-trailing-slash", "SPIFFE-ID §2.2"},
    RuleInfo{SvidRule::kIdPathChars, "id-path-chars", "SPIFFE-ID §2.2"},
    RuleInfo{SvidRule::kIdLength, "id-length", "SPIFFE-ID §2.3"},
    RuleInfo{SvidRule::kOneUriSan, "one-uri-san", "X509-SVID §2, §5.2"},
    RuleInfo{SvidRule::kUriSanCritical, "uri-san-critical", "X509-SVID §3.1"},
    RuleInfo{SvidRule::kLeafPath, "leaf-path", "X509-SVID §3.1, §5.2"},
    RuleInfo{SvidRule::kLeafNotCa, "leaf-not-ca", "X509-SVID §4.1, §5.2"},
    RuleInfo{SvidRule::kKeyUsagePresent, "key-usage-present", "X509-SVID §4.3"},
    RuleInfo{SvidRule::kKeyUsageCritical, "key-usage-critical", "X509-SVID §4.3"},
    RuleInfo{SvidRule::kLeafDigitalSig, "leaf-digital-signature", "X509-SVID §4.3"},
    RuleInfo{SvidRule::kLeafNoKeyCertSign, "leaf-no-key-cert-sign", "X509-SVID §4.3, §5.2"},
    RuleInfo{SvidRule::kLeafNoCrlSign, "leaf-no-crl-sign", "X509-SVID §4.3, §5.2"},
    RuleInfo{SvidRule::kLeafEku, "leaf-eku", "X509-SVID §4.4"},
    RuleInfo{SvidRule::kSigningCa, "signing-ca", "X509-SVID §3.2, §4.1"},
    RuleInfo{SvidRule::kSigningKeyCertSign, "signing-key-cert-sign", "X509-SVID §3.2, §4.3"},
    RuleInfo{SvidRule::kSigningIdNoPath, "signing-id-no-path", "X509-SVID §3.2"},
    RuleInfo{SvidRule::kPathValidation, "path-validation", "X509-SVID §5.1, RFC 5280 §6"},
    RuleInfo{SvidRule::kTrustDomain, "trust-domain", "SPIFFE-ID §3, X509-SVID §5"},
    RuleInfo{SvidRule::kAmbitIdShape, "ambit-id-shape", "ambit: Istio identity form"},
    RuleInfo{SvidRule::kCsrOnlyUriSan, "csr-only-uri-san", "ambit: CA issuance policy"},
};

const RuleInfo& info(SvidRule rule) {
  for (const RuleInfo& r : kRules) {
    if (r.rule == rule) return r;
  }
  return kRules.front();  // unreachable: every enumerator has a row (tested)
}

constexpr std::string_view kScheme = "spiffe://";
constexpr size_t kMaxIdLength = 2048;
constexpr size_t kMaxTrustDomainLength = 255;

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isTrustDomainChar(char c) { return isLowerAlnum(c) || c == '.' || c == '-' || c == '_'; }
bool isPathChar(char c) {
  return isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
}

Status checkTrustDomainSyntax(std::string_view td) {
  if (td.empty()) return ruleError(SvidRule::kIdTrustDomainEmpty, "trust domain is empty");
  if (td.find('@') != std::string_view::npos) {
    return ruleError(SvidRule::kIdUserinfo, fmt::format("authority '{}' has userinfo", td));
  }
  if (td.find(':') != std::string_view::npos) {
    return ruleError(SvidRule::kIdPort, fmt::format("authority '{}' has a ':' or port", td));
  }
  if (td.find('%') != std::string_view::npos) {
    return ruleError(SvidRule::kIdTrustDomainPercent,
                     fmt::format("trust domain '{}' is percent-encoded", td));
  }
  for (char c : td) {
    if (!isTrustDomainChar(c)) {
      return ruleError(SvidRule::kIdTrustDomainChars,
                       fmt::format("trust domain '{}' has invalid character '{}' (allowed: a-z "
                                   "0-9 . - _)",
                                   td, c));
    }
  }
  if (td.size() > kMaxTrustDomainLength) {
    return ruleError(
        SvidRule::kIdTrustDomainLength,
        fmt::format("trust domain is {} bytes, longer than {}", td.size(), kMaxTrustDomainLength));
  }
  return Status::ok();
}

Status checkPathSyntax(std::string_view path) {
  if (path.empty()) return Status::ok();
  if (path.back() == '/') {
    return ruleError(SvidRule::kIdPathTrailingSlash, fmt::format("path '{}' ends with '/'", path));
  }
  std::string_view rest = path.substr(1);  // path starts with '/'
  while (true) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg.empty()) {
      return ruleError(SvidRule::kIdPathEmptySegment,
                       fmt::format("path '{}' has an empty segment", path));
    }
    if (seg == "." || seg == "..") {
      return ruleError(SvidRule::kIdPathDotSegment,
                       fmt::format("path '{}' has a '{}' segment", path, seg));
    }
    if (seg.find('%') != std::string_view::npos) {
      return ruleError(SvidRule::kIdPathPercent, fmt::format("path '{}' is percent-encoded", path));
    }
    for (char c : seg) {
      if (!isPathChar(c)) {
        return ruleError(SvidRule::kIdPathChars,
                         fmt::format("path '{}' has invalid character '{}' (allowed: a-z A-Z "
                                     "0-9 . - _)",
                                     path, c));
      }
    }
    if (slash == std::string_view::npos) return Status::ok();
    rest = rest.substr(slash + 1);
  }
}

}  // namespace

std::string_view ruleName(SvidRule rule) { return info(rule).name; }
std::string_view ruleSource(SvidRule rule) { return info(rule).source; }

Error ruleError(SvidRule rule, std::string_view detail) {
  const RuleInfo& r = info(rule);
  return makeError("SPIFFE rule {} ({}): {}", r.name, r.source, detail);
}

Result<SpiffeUri> parseSpiffeUri(std::string_view uri) {
  if (uri.size() > kMaxIdLength) {
    return ruleError(SvidRule::kIdLength,
                     fmt::format("id is {} bytes, longer than {}", uri.size(), kMaxIdLength));
  }
  if (!uri.starts_with(kScheme)) {
    return ruleError(SvidRule::kIdScheme, "scheme must be spiffe:// (lower case)");
  }
  std::string_view rest = uri.substr(kScheme.size());
  if (size_t pos = rest.find_first_of("?#"); pos != std::string_view::npos) {
    return rest[pos] == '?' ? ruleError(SvidRule::kIdQuery, "id has a query ('?')")
                            : ruleError(SvidRule::kIdFragment, "id has a fragment ('#')");
  }
  size_t slash = rest.find('/');
  std::string_view td = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  AMBIT_TRY(checkTrustDomainSyntax(td));
  AMBIT_TRY(checkPathSyntax(path));
  return SpiffeUri{std::string(td), std::string(path)};
}

}  // namespace ambit::identity
