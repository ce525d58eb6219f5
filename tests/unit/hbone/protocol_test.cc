#include "common/hbone/protocol.h"

#include <gtest/gtest.h>

#include <set>

namespace ambit::hbone {
namespace {

TEST(HboneProtocol, ParsesIpv4AndBracketedIpv6Authorities) {
  auto v4 = parseAuthority("10.0.0.1:8080");
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_EQ(v4->address().to_string(), "10.0.0.1");
  EXPECT_EQ(v4->port(), 8080);
  auto v6 = parseAuthority("[fd00::1]:443");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->address().to_string(), "fd00::1");
  EXPECT_EQ(formatAuthority(*v6), "[fd00::1]:443");
  EXPECT_EQ(formatAuthority(*v4), "10.0.0.1:8080");
}

TEST(HboneProtocol, RejectsBadAuthoritiesWithReason) {
  for (const char* bad :
       {"", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:80x",
        "example.com:80", "fd00::1:80", "[fd00::1]", "[fd00::1:80", "[10.0.0.1]:80x", ":80"}) {
    auto r = parseAuthority(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find("authority"), std::string::npos);
    }
  }
}

TEST(HboneProtocol, ForwardedQuotesAndBracketsIpv6) {
  EXPECT_EQ(formatForwardedFor(asio::ip::make_address("10.1.2.3")), "for=\"10.1.2.3\"");
  EXPECT_EQ(formatForwardedFor(asio::ip::make_address("fd00::7")), "for=\"[fd00::7]\"");
}

TEST(HboneProtocol, ParsesForwardedForBothWays) {
  for (auto ip : {"10.1.2.3", "fd00::7"}) {
    auto addr = asio::ip::make_address(ip);
    auto parsed = parseForwardedFor(formatForwardedFor(addr));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, addr);
  }
  auto second = parseForwardedFor("proto=http;for=10.0.0.9, for=10.0.0.1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->to_string(), "10.0.0.9");
  EXPECT_FALSE(parseForwardedFor("for=_hidden"));
  EXPECT_FALSE(parseForwardedFor("by=10.0.0.1"));
  EXPECT_FALSE(parseForwardedFor("xfor=10.0.0.1"));
}

TEST(HboneProtocol, GeneratesValidDistinctTraceparents) {
  std::string a = generateTraceparent();
  std::string b = generateTraceparent();
  EXPECT_TRUE(isValidTraceparent(a)) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(a.substr(0, 3), "00-");
  EXPECT_FALSE(isValidTraceparent("00-00000000000000000000000000000000-0000000000000001-01"));
  EXPECT_FALSE(isValidTraceparent("00-abc-def-01"));
  EXPECT_TRUE(isValidTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(HboneProtocol, RandomTraceIdsAreHexOfTheAskedLengthAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    for (size_t bytes : {8, 16}) {
      const std::string id = randomHexId(bytes);
      ASSERT_EQ(id.size(), bytes * 2) << id;
      ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
      ASSERT_NE(id.find_first_not_of('0'), std::string::npos) << id;
      ASSERT_TRUE(seen.insert(id).second) << "repeated id " << id;
    }
  }
  EXPECT_EQ(randomHexId(0), "");
  // Every hex digit shows up in every position: the generator fills the whole id.
  for (size_t pos = 0; pos < 32; ++pos) {
    std::set<char> digits;
    for (int i = 0; i < 400 && digits.size() < 16; ++i) digits.insert(randomHexId(16)[pos]);
    EXPECT_GE(digits.size(), pos == 31 ? 15u : 16u) << "position " << pos;
  }
}

TEST(HboneProtocol, FindHeaderReturnsFirstMatch) {
  Headers h{{"a", "1"}, {"b", "2"}, {"a", "3"}};
  ASSERT_NE(findHeader(h, "a"), nullptr);
  EXPECT_EQ(*findHeader(h, "a"), "1");
  EXPECT_EQ(findHeader(h, "c"), nullptr);
}

}  // namespace
}  // namespace ambit::hbone
