#include "common/rbac/string_match.h"

#include <algorithm>

namespace ambit::rbac {
namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerAscii(x) == lowerAscii(y);
         });
}

std::string toLowerAscii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lowerAscii);
  return out;
}

StringMatcher::StringMatcher(Kind kind, std::string value, Case c)
    : kind_(kind), case_(c), value_(c == Case::kInsensitive ? toLowerAscii(value) : value) {}

StringMatcher StringMatcher::fromProto(const v1::StringMatch& m, Case c) {
  switch (m.kind_case()) {
    case v1::StringMatch::kExact:
      return StringMatcher(Kind::kExact, m.exact(), c);
    case v1::StringMatch::kPrefix:
      return StringMatcher(Kind::kPrefix, m.prefix(), c);
    case v1::StringMatch::kSuffix:
      return StringMatcher(Kind::kSuffix, m.suffix(), c);
    case v1::StringMatch::kPresence:
    case v1::StringMatch::KIND_NOT_SET:
      break;
  }
  return StringMatcher(Kind::kPresence, "", c);
}

StringMatcher StringMatcher::fromPattern(std::string_view p, Case c) {
  if (p == "*") return StringMatcher(Kind::kPresence, "", c);
  if (!p.empty() && p.back() == '*') {
    return StringMatcher(Kind::kPrefix, std::string(p.substr(0, p.size() - 1)), c);
  }
  if (!p.empty() && p.front() == '*')
    return StringMatcher(Kind::kSuffix, std::string(p.substr(1)), c);
  return StringMatcher(Kind::kExact, std::string(p), c);
}

bool StringMatcher::matches(std::string_view v) const {
  const auto eq = [this](std::string_view a, std::string_view b) {
    return case_ == Case::kSensitive ? a == b : equalsIgnoreCase(a, b);
  };
  switch (kind_) {
    case Kind::kExact:
      return eq(v, value_);
    case Kind::kPrefix:
      return v.size() >= value_.size() && eq(v.substr(0, value_.size()), value_);
    case Kind::kSuffix:
      return v.size() >= value_.size() && eq(v.substr(v.size() - value_.size()), value_);
    case Kind::kPresence:
      return !v.empty();
  }
  return false;
}

}  // namespace ambit::rbac
