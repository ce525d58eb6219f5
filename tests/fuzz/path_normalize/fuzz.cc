// Fuzzes the waypoint's request-path canonicalisation (common/rbac/path_normalize.h), with the
// properties routing and L7 authorization rely on:
//   - normalising is idempotent: normalize(normalize(x)) == normalize(x), else a policy written
//     for the normalised path and a backend that normalises again would disagree;
//   - a normalised path is absolute, has no "//", no "." or ".." segment, no ';' parameter, no
//     '\\', no '?' or '#', and every '%' starts a valid upper-case escape.
// Input: the raw request target (bytes as sent). Host matching (hostForMatch) is fed the same
// bytes: it must return a prefix of its input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/rbac/path_normalize.h"

namespace {

void check(bool ok, const char* what, std::string_view input, std::string_view output) {
  if (ok) return;
  fprintf(stderr, "property violated: %s\n  input:  '%.*s'\n  output: '%.*s'\n", what,
          static_cast<int>(input.size()), input.data(), static_cast<int>(output.size()),
          output.data());
  abort();
}

bool isUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void checkCanonical(std::string_view in, const std::string& out) {
  check(!out.empty() && out.front() == '/', "result starts with '/'", in, out);
  check(out.find("//") == std::string::npos, "no empty segment", in, out);
  check(out.find_first_of("\\?#;") == std::string::npos, "no '\\', '?', '#' or ';'", in, out);
  check(out.find('\0') == std::string::npos, "no NUL", in, out);
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '%') continue;
    check(i + 2 < out.size() && isUpperHex(out[i + 1]) && isUpperHex(out[i + 2]),
          "every '%' starts an upper-case escape", in, out);
  }
  // No dot segment: "/./", "/../", or a trailing "/." or "/..".
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('/', start + 1);
    std::string_view segment = std::string_view(out).substr(
        start + 1, (end == std::string::npos ? out.size() : end) - start - 1);
    check(segment != "." && segment != "..", "no dot segment", in, out);
    if (end == std::string::npos) break;
    start = end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string_view host = ambit::rbac::hostForMatch(in);
  check(in.substr(0, host.size()) == host, "hostForMatch returns a prefix", in, host);
  std::string_view match = ambit::rbac::pathForMatch(in);
  check(in.substr(0, match.size()) == match, "pathForMatch returns a prefix", in, match);

  auto once = ambit::rbac::normalizePath(in);
  if (!once) return 0;
  checkCanonical(in, *once);
  auto twice = ambit::rbac::normalizePath(*once);
  check(twice.isOk(), "a normalised path normalises again", in, *once);
  check(*twice == *once, "normalising is idempotent", *once, *twice);
  return 0;
}
