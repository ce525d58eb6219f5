#pragma once
// Request-path and host canonicalisation for L7 authorization (pure functions).
//
// The waypoint normalises each request path once, then routes and authorizes on the result, so
// the policy and the backend see the same path. normalizePath() implements Istio's strictest
// option, DECODE_AND_MERGE_SLASHES, plus path-parameter stripping:
//   1. cut at the first '?' or '#' (query and fragment are never part of the match;
//      CVE-2021-39156: "/admin#x" must not dodge a rule on "/admin");
//   2. percent-decode once (no double decoding): unreserved characters (ALPHA DIGIT - . _ ~)
//      are decoded, %2F and %5C become '/' (CVE-2021-29492); other escapes stay encoded with
//      upper-case hex; %00, a raw NUL and malformed escapes are errors (the caller answers 400);
//   3. '\' becomes '/';
//   4. ";params" are removed from every segment. Envoy/Istio keep them, but servers such as
//      Tomcat and Spring strip them before routing, so "/public/..;/admin" or "/admin;x" would
//      otherwise reach "/admin" while matching a different policy path. We strip for matching;
//      an encoded %3B is data, not a separator, and stays;
//   5. empty segments merge ("//" → "/", CVE-2021-31920); "." and ".." resolve per RFC 3986
//      §5.2.4, never above the root (CVE-2019-9901). A trailing '/' is kept.
// The result always starts with '/'. Input that is not an origin-form path is an error.

#include <string>
#include <string_view>

#include "common/status.h"

namespace ambit::rbac {

[[nodiscard]] Result<std::string> normalizePath(std::string_view raw);

namespace detail {
// normalizePath without its shortcut for paths that are already normal: every step above, on
// any input (the tests check that both agree).
[[nodiscard]] Result<std::string> normalizePathInFull(std::string_view raw);
}  // namespace detail

// The path part used for matching an already-normalised path: strips "?query" and "#fragment".
std::string_view pathForMatch(std::string_view path);

// The host part used for matching (CVE-2021-39155): strips ":port" (also "[v6]:port") and a
// trailing dot. Comparison against policy hosts is ASCII case-insensitive (see StringMatcher).
std::string_view hostForMatch(std::string_view host);

}  // namespace ambit::rbac
