#include "common/bpf/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ambit::bpf {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

Result<uint16_t> parsePort(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535 || text.empty()) {
    return makeError("invalid port in '{}': expected 0..65535", whole);
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr ip;
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(ip.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(ip.bytes_.data() + 12, &v4, 4);
    return ip;
  }
  if (::inet_pton(AF_INET6, s.c_str(), ip.bytes_.data()) == 1) return ip;
  return makeError("invalid IP address '{}'", text);
}

IpAddr IpAddr::fromAbi(const ambit_ip& abi) {
  IpAddr ip;
  std::memcpy(ip.bytes_.data(), abi.addr, sizeof(abi.addr));
  return ip;
}

IpAddr IpAddr::fromV4(uint32_t v4_host_order) {
  IpAddr ip;
  std::memcpy(ip.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  uint32_t be = htonl(v4_host_order);
  std::memcpy(ip.bytes_.data() + 12, &be, 4);
  return ip;
}

bool IpAddr::isV4() const {
  return std::memcmp(bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

ambit_ip IpAddr::toAbi() const {
  ambit_ip abi{};
  std::memcpy(abi.addr, bytes_.data(), sizeof(abi.addr));
  return abi;
}

std::string IpAddr::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isV4()) {
    ::inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof(buf));
  } else {
    ::inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

Result<SockAddr> SockAddr::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos)
      return makeError("invalid address '{}': want [ip6]:port", text);
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return makeError("invalid address '{}': want ip:port", text);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto ip = IpAddr::parse(host);
  AMBIT_TRY(ip);
  auto p = parsePort(port, text);
  AMBIT_TRY(p);
  return SockAddr{*ip, *p};
}

Result<SockAddr> SockAddr::fromSockaddr(const sockaddr* sa, socklen_t len) {
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return SockAddr{IpAddr::fromV4(ntohl(in->sin_addr.s_addr)), ntohs(in->sin_port)};
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ambit_ip abi{};
    std::memcpy(abi.addr, &in6->sin6_addr, sizeof(abi.addr));
    return SockAddr{IpAddr::fromAbi(abi), ntohs(in6->sin6_port)};
  }
  return makeError("unsupported socket address family {} (length {})", sa->sa_family, len);
}

SockAddr SockAddr::fromAbi(const ambit_orig_dst& dst) {
  return SockAddr{IpAddr::fromAbi(dst.ip), dst.port};
}

socklen_t SockAddr::toSockaddr(sockaddr_storage* out, bool force_v6) const {
  std::memset(out, 0, sizeof(*out));
  if (ip.isV4() && !force_v6) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, ip.bytes().data() + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, ip.bytes().data(), 16);
  return sizeof(sockaddr_in6);
}

std::string SockAddr::toString() const {
  if (ip.isV4()) return fmt::format("{}:{}", ip.toString(), port);
  return fmt::format("[{}]:{}", ip.toString(), port);
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddr::parse(text.substr(0, slash));
  AMBIT_TRY(ip);
  int max = ip->isV4() ? 32 : 128;
  if (slash == std::string_view::npos) return Cidr{*ip, max};
  std::string_view len = text.substr(slash + 1);
  int value = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
  if (ec != std::errc() || end != len.data() + len.size() || value < 0 || value > max) {
    return makeError("invalid prefix length in '{}': expected 0..{}", text, max);
  }
  return Cidr{*ip, value};
}

ambit_cidr Cidr::toAbi() const {
  ambit_cidr c{};
  int bits = net.isV4() ? 96 + prefix_len : prefix_len;
  std::array<uint8_t, 16> mask{};
  for (int i = 0; i < 16; ++i) {
    int b = std::min(8, std::max(0, bits - 8 * i));
    mask[i] = static_cast<uint8_t>(b == 0 ? 0 : (0xff << (8 - b)) & 0xff);
  }
  const auto& bytes = net.bytes();
  std::array<uint8_t, 16> masked{};
  for (int i = 0; i < 16; ++i) masked[i] = bytes[i] & mask[i];
  std::memcpy(c.net.addr, masked.data(), 16);
  std::memcpy(c.mask.addr, mask.data(), 16);
  return c;
}

}  // namespace ambit::bpf
