#include "common/hbone/protocol.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <random>

namespace ambit::hbone {

const std::string* findHeader(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

Result<asio::ip::tcp::endpoint> parseAuthority(std::string_view authority) {
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() ||
        authority[close + 1] != ':') {
      return makeError("authority '{}': want [ipv6]:port", authority);
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
      return makeError("authority '{}': missing ':port'", authority);
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return makeError("authority '{}': IPv6 address must be in brackets", authority);
    }
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (ec) return makeError("authority '{}': '{}' is not an IP address", authority, host);
  if (addr.is_v6() && authority.front() != '[') {
    return makeError("authority '{}': IPv6 address must be in brackets", authority);
  }
  unsigned value = 0;
  auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || err != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return makeError("authority '{}': port '{}' is not in 1..65535", authority, port);
  }
  return asio::ip::tcp::endpoint(addr, static_cast<uint16_t>(value));
}

std::string formatAuthority(const asio::ip::tcp::endpoint& endpoint) {
  const auto& a = endpoint.address();
  if (a.is_v6()) return fmt::format("[{}]:{}", a.to_string(), endpoint.port());
  return fmt::format("{}:{}", a.to_string(), endpoint.port());
}

std::string formatForwardedFor(const asio::ip::address& source) {
  if (source.is_v6()) return fmt::format("for=\"[{}]\"", source.to_string());
  return fmt::format("for=\"{}\"", source.to_string());
}

namespace {

bool allHexNotZero(std::string_view s) {
  bool nonzero = false;
  for (char c : s) {
    bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!digit) return false;
    nonzero = nonzero || c != '0';
  }
  return nonzero;
}

}  // namespace

std::string randomHexId(size_t bytes) {
  // Trace ids need uniqueness, not secrecy (Envoy uses a non-cryptographic generator too): a
  // per-thread 64-bit Mersenne Twister seeded once from the CSPRNG. RAND_bytes per id was ~4% of
  // the waypoint's CPU under load.
  thread_local std::mt19937_64 rng = [] {
    std::array<uint64_t, 4> seed{};
    if (RAND_bytes(reinterpret_cast<uint8_t*>(seed.data()), sizeof(seed)) != 1) {
      std::random_device rd;
      for (auto& v : seed) v = (static_cast<uint64_t>(rd()) << 32) | rd();
    }
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64(seq);
  }();
  static constexpr char kDigits[] = "0123456789abcdef";
  // Two digits per byte from a table: a third of the instructions of a digit at a time.
  static constexpr std::array<char, 512> kPairs = [] {
    std::array<char, 512> t{};
    for (size_t b = 0; b < 256; ++b) {
      t[2 * b] = kDigits[b >> 4];
      t[2 * b + 1] = kDigits[b & 0xf];
    }
    return t;
  }();
  std::string out(bytes * 2, '0');
  if (out.empty()) return out;
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t v = rng();
    for (size_t j = i; j < std::min(bytes, i + 8); ++j, v >>= 8) {
      std::memcpy(&out[2 * j], &kPairs[2 * (v & 0xff)], 2);
    }
  }
  out.back() = kDigits[1 + (rng() % 15)];  // an all-zero id is invalid
  return out;
}

std::string generateTraceparent() {
  std::string out = "00-" + randomHexId(16);
  out += '-';
  out += randomHexId(8);
  out += "-01";
  return out;
}

bool isValidTraceparent(std::string_view v) {
  // version(2) - trace id(32) - span id(16) - flags(2)
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  if (v.substr(0, 2) == "ff") return false;
  auto hexOnly = [](std::string_view s) {
    for (char c : s) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  return hexOnly(v.substr(0, 2)) && allHexNotZero(v.substr(3, 32)) &&
         allHexNotZero(v.substr(36, 16)) && hexOnly(v.substr(53, 2));
}

Result<asio::ip::address> parseForwardedFor(std::string_view value) {
  size_t at = 0;
  for (;;) {
    at = value.find("for=", at);
    if (at == std::string_view::npos) return makeError("forwarded '{}': no for=", value);
    if (at == 0 || value[at - 1] == ' ' || value[at - 1] == ';' || value[at - 1] == ',') break;
    at += 4;
  }
  std::string_view v = value.substr(at + 4);
  v = v.substr(0, v.find_first_of(";,"));
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(std::string(v), ec);
  if (ec) return makeError("forwarded '{}': for= is not an IP address", value);
  return ip;
}

}  // namespace ambit::hbone
