// HeaderBlockTracker: whether a header block is in progress, from frame boundaries alone, with
// the input cut at every byte.
#include "common/http2/header_block_tracker.h"

#include <gtest/gtest.h>

#include <string>

namespace ambit::http2 {
namespace {

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(payload.size() >> 16));
  f.push_back(static_cast<char>(payload.size() >> 8));
  f.push_back(static_cast<char>(payload.size()));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(stream >> shift));
  return f + payload;
}

constexpr uint8_t kData = 0x0, kHeaders = 0x1, kSettings = 0x4, kContinuation = 0x9;
constexpr uint8_t kEndHeaders = 0x4;
const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Feeds `bytes` one at a time; returns inProgress() after each byte.
std::string progress(HeaderBlockTracker& t, const std::string& bytes) {
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    t.feed(&b, 1);
    out.push_back(t.inProgress() ? '1' : '0');
  }
  return out;
}

TEST(HeaderBlockTrackerTest, CompleteHeadersFrameEndsTheBlockOnItsLastByte) {
  HeaderBlockTracker t(kPreface.size());
  const std::string settings = frame(kSettings, 0, 0, "");
  const std::string headers = frame(kHeaders, kEndHeaders, 1, "abcd");
  EXPECT_EQ(progress(t, kPreface + settings), std::string(kPreface.size() + 9, '0'));
  // In progress from the frame header's last byte until the payload's last byte.
  EXPECT_EQ(progress(t, headers), std::string(8, '0') + std::string(4, '1') + "0");
}

TEST(HeaderBlockTrackerTest, BlockWithoutEndHeadersStaysInProgressUntilContinuationEndsIt) {
  HeaderBlockTracker t(0);
  const std::string begun = frame(kHeaders, 0, 1, "ab");
  const std::string more = frame(kContinuation, 0, 1, "cd");
  const std::string last = frame(kContinuation, kEndHeaders, 1, "");
  progress(t, begun);
  EXPECT_TRUE(t.inProgress());
  progress(t, more);
  EXPECT_TRUE(t.inProgress());
  progress(t, last);
  EXPECT_FALSE(t.inProgress());
  progress(t, frame(kData, 0, 1, "xyz"));
  EXPECT_FALSE(t.inProgress());
}

TEST(HeaderBlockTrackerTest, WholeBufferAtOnce) {
  HeaderBlockTracker t(kPreface.size());
  const std::string bytes = kPreface + frame(kHeaders, kEndHeaders, 1, std::string(300, 'h')) +
                            frame(kHeaders, 0, 3, "x");
  t.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(t.inProgress());  // stream 3's block has no END_HEADERS yet
}

TEST(HeaderBlockTrackerTest, AnotherFrameTypeEndsAnUnfinishedBlock) {
  // Not valid HTTP/2 (nghttp2 ends the connection), but the tracker must not stay stuck.
  HeaderBlockTracker t(0);
  progress(t, frame(kHeaders, 0, 1, "ab"));
  EXPECT_TRUE(t.inProgress());
  progress(t, frame(kData, 0, 1, ""));
  EXPECT_FALSE(t.inProgress());
}

}  // namespace
}  // namespace ambit::http2
