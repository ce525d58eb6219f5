#pragma once
// HBONE wire conventions (DESIGN.md §4): the `:authority` of a CONNECT is a literal `ip:port`
// (IPv6 in brackets), the client's source address travels in `forwarded: for="..."`
// (RFC 7239) and every tunnel carries a W3C `traceparent`. Pure functions, no I/O.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::hbone {

namespace asio = boost::asio;

inline constexpr uint16_t kHbonePort = 15008;
inline constexpr std::string_view kAlpnH2 = "h2";

struct Header {
  std::string name;  // lowercase, as on the HTTP/2 wire
  std::string value;
};
using Headers = std::vector<Header>;

// Returns the value of the first header named `name` (lowercase), or nullptr.
const std::string* findHeader(const Headers& headers, std::string_view name);

// "10.0.0.1:80" or "[fd00::1]:80" -> endpoint. Host names, missing/zero ports and unbracketed
// IPv6 are rejected with a message saying which part is wrong.
Result<asio::ip::tcp::endpoint> parseAuthority(std::string_view authority);
std::string formatAuthority(const asio::ip::tcp::endpoint& endpoint);

// `for="10.0.0.1"` / `for="[fd00::1]"` (RFC 7239 §6: IPv6 quoted and bracketed).
std::string formatForwardedFor(const asio::ip::address& source);
// The address in the first `for=` of a `forwarded` value (quoted or not, v6 bracketed);
// an error for obfuscated identifiers ("_hidden", "unknown") or anything not an IP.
Result<asio::ip::address> parseForwardedFor(std::string_view value);

// A fresh sampled W3C trace context: "00-<32 hex trace id>-<16 hex span id>-01".
std::string generateTraceparent();
// A fresh random id of `bytes` bytes (16: a trace id, 8: a span id) as lower-case hex, never
// all zeros; empty for 0 bytes.
std::string randomHexId(size_t bytes);
bool isValidTraceparent(std::string_view value);

}  // namespace ambit::hbone
