#pragma once
// Istio string matching for authorization rules: exact "abc", prefix "abc*", suffix "*abc",
// presence "*" (any non-empty value). Immutable after construction; matching never allocates.

#include <string>
#include <string_view>

#include "ambit/v1/policy.pb.h"

namespace ambit::rbac {

class StringMatcher {
 public:
  enum class Kind : uint8_t { kExact, kPrefix, kSuffix, kPresence };
  enum class Case : uint8_t { kSensitive, kInsensitive };

  StringMatcher() = default;
  StringMatcher(Kind kind, std::string value, Case c = Case::kSensitive);

  static StringMatcher fromProto(const v1::StringMatch& m, Case c = Case::kSensitive);
  // Parses Istio's textual form ("*", "abc*", "*abc", "abc"), as used in `when` values.
  static StringMatcher fromPattern(std::string_view pattern, Case c = Case::kSensitive);

  bool matches(std::string_view value) const;
  Kind kind() const { return kind_; }
  const std::string& value() const { return value_; }

 private:
  Kind kind_ = Kind::kPresence;
  Case case_ = Case::kSensitive;
  std::string value_;  // lower-cased when case-insensitive
};

// ASCII case-insensitive equality (hosts, header names).
bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string toLowerAscii(std::string_view s);

}  // namespace ambit::rbac
