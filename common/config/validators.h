#pragma once
// Value checks and conversions shared by the kind translators. Each returns the reason a value
// is invalid (std::nullopt / empty reason when fine) so the caller can attach file and line.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ambit/v1/policy.pb.h"

namespace ambit::config {

// Kubernetes label key ("prefix/name") and value rules; returns the reason when invalid.
std::optional<std::string> checkLabelKey(std::string_view key);
std::optional<std::string> checkLabelValue(std::string_view value);
// RFC 1123 subdomain (metadata.name, namespace names).
std::optional<std::string> checkResourceName(std::string_view name);

// Canonical textual IP, or nullopt when `text` is not an IPv4/IPv6 address.
std::optional<std::string> parseIp(std::string_view text);
// "10.0.0.0/8", "fd00::/64" or a bare address; returns the reason when invalid.
std::optional<std::string> checkCidr(std::string_view text);

// Go/Istio duration ("2s", "100ms", "1.5s", "1m30s", "250us") to milliseconds, rounded up
// so a sub-millisecond timeout never becomes "no timeout". nullopt when malformed.
std::optional<uint32_t> parseDurationMs(std::string_view text);

// Compiles `pattern` with RE2, the dialect Istio/Envoy use (no backreferences or lookaround;
// matching is linear in the input). Returns the reason when invalid.
std::optional<std::string> checkRegex(const std::string& pattern);

// "8080, 9090" -> {"8080", "9090"}: trimmed, empty items dropped.
std::vector<std::string> splitCommaList(std::string_view s);

// Istio string match: "exact", "prefix*", "*suffix", "*" (presence).
v1::StringMatch toStringMatch(std::string_view text);

// Resolves a host like Istio: "a" -> "a.<ns>.svc.<domain>", "a.b" -> "a.b.svc.<domain>";
// names with more dots, "*" wildcards and FQDNs stay as they are.
std::string resolveHost(std::string_view host, std::string_view ns, std::string_view domain);

}  // namespace ambit::config
