#include "common/admin/access_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ambit::admin {
namespace {

using ::testing::HasSubstr;

// What a peer controls (a header, a path) with everything that could break a line or forge a
// field: quotes, backslashes, '=', newlines, a NUL, an escape sequence and invalid UTF-8.
const std::string kHostile =
    std::string("ev\"il\\ x=1\nforged=yes\r\t\x1b[31m") + std::string(1, '\0') + "\xff\xfe end";

AccessLogRecord sample() {
  AccessLogRecord r;
  r.add("start_time", "2026-12-04T22:05:42.123Z")
      .add("method", "GET")
      .add("path", kHostile)
      .add("response_code", uint64_t{403})
      .add("bytes_sent", uint64_t{0})
      .add("duration_ms", 1.5)
      .add("offset", int64_t{-2})
      .add("route", "");
  return r;
}

TEST(AccessLogFormat, Names) {
  EXPECT_EQ(*parseAccessLogFormat("text"), AccessLogFormat::kText);
  EXPECT_EQ(*parseAccessLogFormat("json"), AccessLogFormat::kJson);
  EXPECT_EQ(*parseAccessLogFormat("off"), AccessLogFormat::kOff);
  auto bad = parseAccessLogFormat("JSON ");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("expected text, json or off"));
}

TEST(AccessLogText, PlainValuesBareHostileOnesQuotedAndEscaped) {
  std::string line = formatAccessLog(sample(), AccessLogFormat::kText);
  EXPECT_EQ(line,
            "start_time=2026-12-04T22:05:42.123Z method=GET "
            "path=\"ev\\\"il\\\\ x=1\\nforged=yes\\r\\t\\x1b[31m\\x00\xff\xfe end\" "
            "response_code=403 bytes_sent=0 duration_ms=1.500 offset=-2 route=\"\"");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  // The hostile value cannot start a field of its own: " forged=" only appears escaped.
  EXPECT_EQ(line.find(" forged="), std::string::npos);
}

TEST(AccessLogJson, OneParseableObjectWithTheValuesIntact) {
  std::string line = formatAccessLog(sample(), AccessLogFormat::kJson);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  nlohmann::json j = nlohmann::json::parse(line);  // throws (fails the test) if not JSON
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["response_code"], 403);
  EXPECT_EQ(j["duration_ms"], 1.5);
  EXPECT_EQ(j["offset"], -2);
  EXPECT_EQ(j["route"], "");
  // Everything but the invalid UTF-8 survives; that is replaced by U+FFFD.
  std::string path = j["path"];
  EXPECT_EQ(path.substr(0, 29), kHostile.substr(0, 29));
  EXPECT_THAT(path, HasSubstr("\xef\xbf\xbd"));
  EXPECT_THAT(path, HasSubstr(" end"));
  EXPECT_FALSE(j.contains("forged"));
  // Keys keep the record's order.
  EXPECT_LT(line.find("\"start_time\""), line.find("\"method\""));
  EXPECT_LT(line.find("\"method\""), line.find("\"route\""));
}

TEST(AccessLogOff, WritesNothing) {
  EXPECT_EQ(formatAccessLog(sample(), AccessLogFormat::kOff), "");
}

TEST(AccessLogTime, Rfc3339UtcWithMilliseconds) {
  std::chrono::system_clock::time_point t{std::chrono::milliseconds(1764885942123)};
  EXPECT_EQ(accessLogTime(t), "2025-12-04T22:05:42.123Z");
}

}  // namespace
}  // namespace ambit::admin
