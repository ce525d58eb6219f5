#include "common/config/validators.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <regex>

namespace ambit::config {
namespace {

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool isQualifiedName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (std::islower(static_cast<unsigned char>(c)) != 0) ||
           (std::isdigit(static_cast<unsigned char>(c)) != 0) || c == '-';
  });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!isDnsLabel(s.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::optional<std::string> checkLabelKey(std::string_view key) {
  std::string_view name = key;
  const size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (!isDnsSubdomain(key.substr(0, slash))) {
      return fmt::format("invalid label key '{}': prefix must be a DNS subdomain", key);
    }
    name = key.substr(slash + 1);
  }
  if (!isQualifiedName(name)) {
    return fmt::format(
        "invalid label key '{}': name must be 1-63 alphanumerics, '-', '_' or '.', "
        "starting and ending alphanumeric",
        key);
  }
  return std::nullopt;
}

std::optional<std::string> checkLabelValue(std::string_view value) {
  if (value.empty() || isQualifiedName(value)) return std::nullopt;
  return fmt::format(
      "invalid label value '{}': must be at most 63 alphanumerics, '-', '_' or '.', "
      "starting and ending alphanumeric",
      value);
}

std::optional<std::string> checkResourceName(std::string_view name) {
  if (isDnsSubdomain(name)) return std::nullopt;
  return fmt::format("invalid name '{}': must be a lowercase RFC 1123 subdomain", name);
}

std::optional<std::string> parseIp(std::string_view text) {
  const std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET, buf, out, sizeof(out)));
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET6, buf, out, sizeof(out)));
  }
  return std::nullopt;
}

std::optional<std::string> checkCidr(std::string_view text) {
  const size_t slash = text.find('/');
  const auto ip = parseIp(text.substr(0, slash));
  if (!ip) return fmt::format("invalid CIDR '{}': bad address", text);
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view len = text.substr(slash + 1);
  const int max = ip->find(':') == std::string::npos ? 32 : 128;
  if (len.empty() || len.size() > 3 ||
      !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(std::string(len)) > max) {
    return fmt::format("invalid CIDR '{}': prefix length must be 0-{}", text, max);
  }
  return std::nullopt;
}

std::optional<uint32_t> parseDurationMs(std::string_view text) {
  static const std::regex kPart(R"(([0-9]+(?:\.[0-9]+)?)(h|ms|m|s|us|µs|ns))");
  const std::string s(text);
  if (s.empty()) return std::nullopt;
  double total_ms = 0;
  size_t consumed = 0;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kPart); it != std::sregex_iterator();
       ++it) {
    if (static_cast<size_t>(it->position()) != consumed) return std::nullopt;
    consumed += it->length();
    const double v = std::stod((*it)[1].str());
    const std::string unit = (*it)[2].str();
    const double scale = unit == "h"    ? 3600e3
                         : unit == "m"  ? 60e3
                         : unit == "s"  ? 1e3
                         : unit == "ms" ? 1.0
                         : unit == "ns" ? 1e-6
                                        : 1e-3;
    total_ms += v * scale;
  }
  if (consumed != s.size() || total_ms > 4294967295.0) return std::nullopt;
  return static_cast<uint32_t>(total_ms + 0.999999);
}

std::optional<std::string> checkRegex(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (!re.ok()) return fmt::format("invalid regex '{}' (RE2 syntax): {}", pattern, re.error());
  return std::nullopt;
}

std::vector<std::string> splitCommaList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) {
      item.remove_prefix(1);
    }
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) {
      item.remove_suffix(1);
    }
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

v1::StringMatch toStringMatch(std::string_view text) {
  v1::StringMatch m;
  if (text == "*") {
    m.set_presence(true);
  } else if (text.size() > 1 && text.back() == '*') {
    m.set_prefix(std::string(text.substr(0, text.size() - 1)));
  } else if (text.size() > 1 && text.front() == '*') {
    m.set_suffix(std::string(text.substr(1)));
  } else {
    m.set_exact(std::string(text));
  }
  return m;
}

std::string resolveHost(std::string_view host, std::string_view ns, std::string_view domain) {
  if (host.find('*') != std::string_view::npos) return std::string(host);
  const auto dots = std::count(host.begin(), host.end(), '.');
  if (dots == 0) return fmt::format("{}.{}.svc.{}", host, ns, domain);
  if (dots == 1) return fmt::format("{}.svc.{}", host, domain);
  return std::string(host);
}

}  // namespace ambit::config
