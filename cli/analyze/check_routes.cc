// Routes an earlier route shadows. The waypoint's Router takes the first route with a matching
// match (a route without matches matches everything), so a later match that every request
// matching it also matches earlier can never be used. "Covers" is decided conservatively: only
// when it is certain (same or more general uri, port, method, headers and query parameters),
// so a finding is never a guess.
#include <fmt/format.h>

#include "cli/analyze/analyzer.h"

namespace ambit::cli {
namespace {

bool startsWith(const std::string& s, const std::string& prefix, bool icase) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char a = icase ? static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))) : s[i];
    const char b =
        icase ? static_cast<char>(std::tolower(static_cast<unsigned char>(prefix[i]))) : prefix[i];
    if (a != b) return false;
  }
  return true;
}

bool sameText(const std::string& a, const std::string& b, bool icase) {
  return a.size() == b.size() && startsWith(a, b, icase);
}

// Every path `later` accepts, `earlier` accepts too.
bool uriCovers(const v1::HttpMatch& earlier, const v1::HttpMatch& later) {
  using M = v1::HttpMatch;
  if (earlier.uri_case() == M::URI_NOT_SET) return true;
  // A case-sensitive later match accepts a subset of what the same case-insensitive one does.
  const bool icase = earlier.ignore_uri_case();
  if (!icase && later.ignore_uri_case()) return false;
  switch (earlier.uri_case()) {
    case M::kUriExact:
      return later.uri_case() == M::kUriExact &&
             sameText(later.uri_exact(), earlier.uri_exact(), icase);
    case M::kUriPrefix:
      if (later.uri_case() == M::kUriExact)
        return startsWith(later.uri_exact(), earlier.uri_prefix(), icase);
      if (later.uri_case() == M::kUriPrefix)
        return startsWith(later.uri_prefix(), earlier.uri_prefix(), icase);
      return false;
    case M::kUriRegex:
      return later.uri_case() == M::kUriRegex && later.uri_regex() == earlier.uri_regex();
    default:
      return false;
  }
}

bool methodCovers(const v1::HttpMatch& earlier, const v1::HttpMatch& later) {
  if (!earlier.has_method()) return true;
  if (!later.has_method()) return false;
  const v1::StringMatch& a = earlier.method();
  const v1::StringMatch& b = later.method();
  if (a.kind_case() == v1::StringMatch::kExact)
    return b.kind_case() == v1::StringMatch::kExact && b.exact() == a.exact();
  if (a.kind_case() == v1::StringMatch::kPrefix) {
    if (b.kind_case() == v1::StringMatch::kExact) return startsWith(b.exact(), a.prefix(), false);
    if (b.kind_case() == v1::StringMatch::kPrefix) return startsWith(b.prefix(), a.prefix(), false);
  }
  return false;
}

// A header (or query parameter) condition of the earlier match is implied by one of the later's.
bool headerImplied(const v1::HeaderMatch& a,
                   const google::protobuf::RepeatedPtrField<v1::HeaderMatch>& later) {
  for (const auto& b : later) {
    if (b.name() != a.name() || b.invert() != a.invert()) continue;
    if (b.kind_case() == a.kind_case()) {
      if (a.kind_case() == v1::HeaderMatch::kExact && a.exact() == b.exact()) return true;
      if (a.kind_case() == v1::HeaderMatch::kPrefix && startsWith(b.prefix(), a.prefix(), false))
        return true;
      if (a.kind_case() == v1::HeaderMatch::kRegex && a.regex() == b.regex()) return true;
      if (a.kind_case() == v1::HeaderMatch::kPresent && a.present() == b.present()) return true;
    }
    if (!a.invert() && a.kind_case() == v1::HeaderMatch::kPrefix &&
        b.kind_case() == v1::HeaderMatch::kExact && startsWith(b.exact(), a.prefix(), false))
      return true;
  }
  return false;
}

bool matchCovers(const v1::HttpMatch& earlier, const v1::HttpMatch& later) {
  if (!uriCovers(earlier, later) || !methodCovers(earlier, later)) return false;
  if (earlier.port() != 0 && earlier.port() != later.port()) return false;
  for (const auto& h : earlier.headers()) {
    if (!headerImplied(h, later.headers())) return false;
  }
  for (const auto& q : earlier.query_params()) {
    if (!headerImplied(q, later.query_params())) return false;
  }
  return true;
}

// The first route before `limit` that takes every request `m` matches (null `m`: every
// request); -1 when none.
int coveringRoute(const v1::RouteTable& t, int limit, const v1::HttpMatch* m) {
  for (int k = 0; k < limit; ++k) {
    const v1::HttpRoute& r = t.http(k);
    if (r.matches().empty()) return k;
    if (m == nullptr) continue;
    for (const auto& e : r.matches()) {
      if (matchCovers(e, *m)) return k;
    }
  }
  return -1;
}

std::string ruleName(const v1::HttpRoute& r, int i) {
  return r.name().empty() ? fmt::format("#{}", i) : fmt::format("#{} ({})", i, r.name());
}

void checkTable(FindingSink& sink, const v1::RouteTable& t) {
  const std::string kind = t.origin_kind().empty() ? "VirtualService" : t.origin_kind();
  const ObjectRef object{kind, t.namespace_(), t.name()};
  const std::string list = kind == "HTTPRoute" ? "rules" : "http";
  for (int i = 1; i < t.http_size(); ++i) {
    const v1::HttpRoute& r = t.http(i);
    std::vector<int> covered_by;
    for (const auto& m : r.matches()) covered_by.push_back(coveringRoute(t, i, &m));
    if (r.matches().empty()) covered_by.push_back(coveringRoute(t, i, nullptr));
    const bool all =
        std::all_of(covered_by.begin(), covered_by.end(), [](int k) { return k >= 0; });
    if (all) {
      sink.addAt(findings::kVirtualServiceUnreachableRule, object,
                 {"spec", list, std::to_string(i)},
                 fmt::format("{} rule {} not used (rule {} matches every request it matches, and "
                             "the first matching rule wins).",
                             kind, ruleName(r, i),
                             ruleName(t.http(covered_by.front()), covered_by.front())),
                 "move the more specific rule before the general one, or remove it");
      continue;
    }
    for (size_t j = 0; j < covered_by.size() && !r.matches().empty(); ++j) {
      if (covered_by[j] < 0) continue;
      sink.addAt(
          findings::kVirtualServiceIneffectiveMatch, object,
          {"spec", list, std::to_string(i), kind == "HTTPRoute" ? "matches" : "match",
           std::to_string(j)},
          fmt::format("{} rule {} match #{} is not used (duplicate/overlapping match in "
                      "rule {}).",
                      kind, ruleName(r, i), j, ruleName(t.http(covered_by[j]), covered_by[j])),
          "remove the match or make it more specific than the earlier one");
    }
  }
}

}  // namespace

void checkRouteShadowing(FindingSink& sink) {
  for (const auto& t : sink.source().snapshot().route_tables()) checkTable(sink, t);
}

}  // namespace ambit::cli
