#include "common/rbac/ip_match.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace ambit::rbac {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress out;
  if (inet_pton(AF_INET, buf, out.bytes.data()) == 1) {
    out.family = Family::kV4;
    return out;
  }
  if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) return std::nullopt;
  return v6(out.bytes);
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& bytes) {
  IpAddress out;
  if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin())) {
    out.family = Family::kV4;
    std::memcpy(out.bytes.data(), bytes.data() + 12, 4);
    return out;
  }
  out.family = Family::kV6;
  out.bytes = bytes;
  return out;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress out;
  out.family = Family::kV4;
  out.bytes[0] = static_cast<uint8_t>(host_order >> 24);
  out.bytes[1] = static_cast<uint8_t>(host_order >> 16);
  out.bytes[2] = static_cast<uint8_t>(host_order >> 8);
  out.bytes[3] = static_cast<uint8_t>(host_order);
  return out;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  const auto addr = IpAddress::parse(addr_text);
  if (!addr) return makeError("invalid CIDR '{}': '{}' is not an IP address", text, addr_text);
  const bool v6_text = addr_text.find(':') != std::string_view::npos;
  const unsigned max_len = v6_text ? 128 : 32;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = text.substr(slash + 1);
    const char* end = len_text.data() + len_text.size();
    auto [ptr, ec] = std::from_chars(len_text.data(), end, len);
    if (len_text.empty() || ec != std::errc() || ptr != end || len > max_len) {
      return makeError("invalid CIDR '{}': prefix length must be 0..{}", text, max_len);
    }
  }
  // A mapped IPv6 range (::ffff:10.0.0.0/104) becomes the equivalent IPv4 range.
  if (addr->family == IpAddress::Family::kV4 && v6_text) {
    if (len < 96) return makeError("invalid CIDR '{}': IPv4-mapped prefix below /96", text);
    len -= 96;
  }
  Cidr out;
  out.base = *addr;
  out.prefix_len = static_cast<uint8_t>(len);
  for (unsigned bit = len; bit < 128; ++bit) {
    out.base.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return out;
}

bool Cidr::contains(const IpAddress& addr) const {
  if (addr.family != base.family) return false;
  const unsigned full = prefix_len / 8;
  if (std::memcmp(addr.bytes.data(), base.bytes.data(), full) != 0) return false;
  const unsigned rest = prefix_len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return (addr.bytes[full] & mask) == base.bytes[full];
}

}  // namespace ambit::rbac
