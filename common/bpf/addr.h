#pragma once
// IP addresses and socket addresses as the capture maps store them: 16 bytes, network byte
// order, IPv4 in its v4-mapped form (::ffff:a.b.c.d). Value types, freely copyable.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "ambit/abi.h"
#include "common/status.h"

namespace ambit::bpf {

class IpAddr {
 public:
  IpAddr() = default;
  // "10.1.2.3", "fd00::1", "::ffff:10.1.2.3".
  static Result<IpAddr> parse(std::string_view text);
  static IpAddr fromAbi(const ambit_ip& ip);
  // host byte order, e.g. 0x7f000001.
  static IpAddr fromV4(uint32_t v4_host_order);

  bool isV4() const;  // v4-mapped form
  ambit_ip toAbi() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string toString() const;  // dotted quad for IPv4, RFC 5952 for IPv6
  bool operator==(const IpAddr&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

struct SockAddr {
  IpAddr ip;
  uint16_t port = 0;  // host byte order

  static Result<SockAddr> parse(std::string_view text);  // "10.1.2.3:80", "[fd00::1]:443"
  static Result<SockAddr> fromSockaddr(const sockaddr* sa, socklen_t len);
  static SockAddr fromAbi(const ambit_orig_dst& dst);
  // AF_INET for IPv4, AF_INET6 otherwise (or always, with v4-mapped, when force_v6).
  socklen_t toSockaddr(sockaddr_storage* out, bool force_v6 = false) const;
  std::string toString() const;  // "10.1.2.3:80", "[fd00::1]:443"
  bool operator==(const SockAddr&) const = default;
};

// An address prefix; prefix_len counts over the written family (0..32 for IPv4).
struct Cidr {
  IpAddr net;
  int prefix_len = 0;

  static Result<Cidr> parse(std::string_view text);  // "10.0.0.0/8", "fd00::/8", "1.2.3.4"
  ambit_cidr toAbi() const;
  bool operator==(const Cidr&) const = default;
};

}  // namespace ambit::bpf
