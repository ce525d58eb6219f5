#pragma once
// IP addresses and CIDR ranges for authorization matching (ipBlocks, source.ip, destination.ip).
// Plain value types: parsing happens once (at policy compile time, or when the caller builds
// the connection's Attributes), matching is a few byte compares with no allocation.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"

namespace ambit::rbac {

struct IpAddress {
  enum class Family : uint8_t { kNone, kV4, kV6 };

  Family family = Family::kNone;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4 bytes

  // Parses a textual IPv4 or IPv6 address (no port, no brackets, no zone). IPv4-mapped IPv6
  // (::ffff:a.b.c.d) is stored as IPv4 so a policy written for either form matches both.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint32_t host_order);
  // From 16 network-order bytes; IPv4-mapped is stored as IPv4, as in parse().
  static IpAddress v6(const std::array<uint8_t, 16>& bytes);

  bool valid() const { return family != Family::kNone; }
  bool operator==(const IpAddress&) const = default;
};

// A CIDR range: "10.0.0.0/8", "2001:db8::/32", or a single address (full-length prefix).
// Host bits below the prefix are ignored, as Envoy does.
struct Cidr {
  IpAddress base;
  uint8_t prefix_len = 0;

  // Errors say what is wrong with `text` (bad address, prefix out of range).
  [[nodiscard]] static Result<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& addr) const;
};

}  // namespace ambit::rbac
