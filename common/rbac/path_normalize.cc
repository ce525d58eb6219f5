#include "common/rbac/path_normalize.h"

namespace ambit::rbac {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Steps 2 and 3: one decoding pass, slashes unified.
Result<std::string> decodeOnce(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '\0') return makeError("path contains a NUL byte");
    if (c == '\\') {
      out.push_back('/');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return makeError("truncated percent-encoding at offset {}", i);
    const int hi = hexValue(in[i + 1]);
    const int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return makeError("malformed percent-encoding at offset {}", i);
    const auto v = static_cast<unsigned char>(hi * 16 + lo);
    if (v == 0) return makeError("path contains %00");
    if (v == '/' || v == '\\') {
      out.push_back('/');
    } else if (isUnreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out += {'%', kHex[v >> 4], kHex[v & 0xf]};
    }
    i += 2;
  }
  return out;
}

// True when normalizing would return `path` unchanged (most requests' paths): it starts with
// '/', has no escape, backslash, path parameter or NUL, and no empty, "." or ".." segment (an
// empty last segment, a trailing '/', is kept by normalization too).
bool alreadyNormal(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  size_t segment = 1;  // where the current segment starts
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const size_t len = i - segment;
      if (len == 0 && i != path.size()) return false;
      if ((len == 1 || len == 2) && path[segment] == '.' &&
          (len == 1 || path[segment + 1] == '.')) {
        return false;
      }
      segment = i + 1;
      continue;
    }
    const char c = path[i];
    if (c == '%' || c == '\\' || c == ';' || c == '\0') return false;
  }
  return true;
}

}  // namespace

Result<std::string> normalizePath(std::string_view raw) {
  raw = pathForMatch(raw);
  if (alreadyNormal(raw)) return std::string(raw);
  return detail::normalizePathInFull(raw);
}

namespace detail {

Result<std::string> normalizePathInFull(std::string_view raw) {
  raw = pathForMatch(raw);
  if (raw.empty() || (raw.front() != '/' && raw.front() != '\\')) {
    return makeError("request path '{}' is not an absolute path", raw);
  }
  auto decoded = decodeOnce(raw);
  if (!decoded) return decoded.error().context(fmt::format("normalize path '{}'", raw));
  const std::string_view d = *decoded;

  std::string out;
  out.reserve(d.size());
  bool trailing_slash = false;
  size_t start = 0;
  while (start <= d.size()) {
    size_t end = d.find('/', start);
    if (end == std::string_view::npos) end = d.size();
    std::string_view seg = d.substr(start, end - start);
    seg = seg.substr(0, seg.find(';'));
    start = end + 1;
    if (seg.empty() || seg == ".") {
      trailing_slash = true;
    } else if (seg == "..") {
      out.resize(out.empty() ? 0 : out.rfind('/'));
      trailing_slash = true;
    } else {
      out += '/';
      out += seg;
      trailing_slash = false;
    }
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

}  // namespace detail

std::string_view pathForMatch(std::string_view path) {
  // A loop, not find_first_of("?#"): that calls memchr over the set for every character of the
  // path (~90 instructions per character).
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '?' || path[i] == '#') return path.substr(0, i);
  }
  return path;
}

std::string_view hostForMatch(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const auto colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace ambit::rbac
