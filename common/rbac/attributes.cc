#include "common/rbac/attributes.h"

#include "common/rbac/string_match.h"

namespace ambit::rbac {

HeaderList::HeaderList(
    std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
  for (const auto& [name, value] : headers) add(name, value);
}

void HeaderList::add(std::string_view name, std::string_view value) {
  for (auto& [n, v] : headers_) {
    if (equalsIgnoreCase(n, name)) {
      v += ',';
      v += value;
      return;
    }
  }
  headers_.emplace_back(toLowerAscii(name), std::string(value));
}

std::optional<std::string_view> HeaderList::get(std::string_view lower_name) const {
  for (const auto& [n, v] : headers_) {
    if (n == lower_name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string nestedClaimKey(std::initializer_list<std::string_view> path) {
  std::string out;
  for (const auto seg : path) {
    if (!out.empty()) out += kClaimPathSeparator;
    out += seg;
  }
  return out;
}

std::string_view namespaceFromPrincipal(std::string_view principal) {
  constexpr std::string_view kScheme = "spiffe://";
  if (principal.rfind(kScheme, 0) == 0) principal.remove_prefix(kScheme.size());
  const auto td_end = principal.find('/');
  if (td_end == std::string_view::npos) return {};
  std::string_view rest = principal.substr(td_end + 1);
  if (rest.rfind("ns/", 0) != 0) return {};
  rest.remove_prefix(3);
  return rest.substr(0, rest.find('/'));
}

}  // namespace ambit::rbac
