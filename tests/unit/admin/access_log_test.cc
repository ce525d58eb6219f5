#include "common/admin/access_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/observability.h"

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

// What the e2e tests read back (tests/support/observability.h) is what was written, in both
// formats, hostile values included.
TEST(AccessLogReadBack, BothFormatsRoundTripThroughALogLine) {
  AccessLogRecord r;
  r.add("path", std::string("/a b\"c\\d\ne=f\x01")).add("code", uint64_t{200}).add("empty", "");
  for (AccessLogFormat f : {AccessLogFormat::kText, AccessLogFormat::kJson}) {
    std::string log =
        "2026-12-04T22:05:42.000001Z info waypoint config version 1\n"
        "2026-12-04T22:05:42.000002Z info waypoint access " +
        formatAccessLog(r, f) + "\n";
    auto records = test::accessRecords(log);
    ASSERT_EQ(records.size(), 1u) << log;
    EXPECT_EQ(records[0]["path"], "/a b\"c\\d\ne=f\x01") << log;
    EXPECT_EQ(records[0]["code"], "200") << log;
    EXPECT_EQ(records[0]["empty"], "") << log;
    EXPECT_FALSE(records[0].contains("e")) << log;
    EXPECT_EQ(test::matchingAccessRecords(log, {{"code", "200"}}).size(), 1u);
    EXPECT_EQ(test::matchingAccessRecords(log, {{"code", "404"}}).size(), 0u);
  }
  auto broken = test::accessRecords("x info ztunnel access path=\"unterminated\n");
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_TRUE(broken[0].contains("unparsed"));
}

}  // namespace
}  // namespace ambit::admin
