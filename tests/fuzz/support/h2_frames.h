#pragma once
// Fuzzing support: the client side of an HTTP/2 connection written by hand, for harnesses
// that need a well-formed envelope around the fuzzed bytes (an HBONE CONNECT tunnel whose
// DATA is the fuzz input). Header blocks use HPACK literals without indexing (RFC 7541 §6.2.2),
// names and values shorter than 127 bytes.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ambit::fuzz {

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr uint8_t kFrameData = 0x0, kFrameHeaders = 0x1, kFrameSettings = 0x4;
inline constexpr uint8_t kFlagEndStream = 0x1, kFlagAck = 0x1, kFlagEndHeaders = 0x4;

inline void appendFrame(std::string& out, uint8_t type, uint8_t flags, uint32_t stream,
                        std::string_view payload) {
  const size_t n = payload.size();
  out += {static_cast<char>(n >> 16),
          static_cast<char>(n >> 8),
          static_cast<char>(n),
          static_cast<char>(type),
          static_cast<char>(flags),
          static_cast<char>((stream >> 24) & 0x7f),
          static_cast<char>(stream >> 16),
          static_cast<char>(stream >> 8),
          static_cast<char>(stream)};
  out.append(payload);
}

inline std::string hpackLiterals(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string block;
  for (const auto& [name, value] : fields) {
    block += '\0';
    block += static_cast<char>(name.size());
    block += name;
    block += static_cast<char>(value.size());
    block += value;
  }
  return block;
}

// Preface, empty SETTINGS, the ACK of the server's SETTINGS (so its windows apply), a CONNECT
// to `authority` on stream 1, `body` as DATA frames, and END_STREAM.
inline std::string connectTunnel(std::string_view authority, std::string_view body) {
  std::string out(kClientPreface);
  appendFrame(out, kFrameSettings, 0, 0, {});
  appendFrame(out, kFrameSettings, kFlagAck, 0, {});
  appendFrame(out, kFrameHeaders, kFlagEndHeaders, 1,
              hpackLiterals({{":method", "CONNECT"},
                             {":authority", std::string(authority)},
                             {"forwarded", "for=10.1.2.3"}}));
  constexpr size_t kMaxFrame = 16384;
  for (size_t off = 0; off < body.size(); off += kMaxFrame) {
    appendFrame(out, kFrameData, 0, 1, body.substr(off, kMaxFrame));
  }
  appendFrame(out, kFrameData, kFlagEndStream, 1, {});
  return out;
}

}  // namespace ambit::fuzz
