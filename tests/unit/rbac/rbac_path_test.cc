// Path/host canonicalisation (one case per known bypass class) and IP/CIDR parsing.
#include "common/rbac/path_normalize.h"
#include "tests/unit/rbac/rbac_test_util.h"

namespace ambit::rbac::testing {
namespace {

struct PathCase {
  const char* name;
  const char* raw;
  const char* normalized;  // nullptr: rejected
};

void PrintTo(const PathCase& c, std::ostream* os) { *os << c.name; }

const PathCase kPaths[] = {
    {"plain", "/api/v1", "/api/v1"},
    {"root", "/", "/"},
    {"trailing_slash_kept", "/api/", "/api/"},
    {"query_stripped", "/admin?x=/public", "/admin"},
    // CVE-2019-9901: dot-segment traversal.
    {"dotdot", "/public/../admin", "/admin"},
    {"dotdot_above_root", "/../../admin", "/admin"},
    {"dot", "/./admin/.", "/admin/"},
    {"encoded_dotdot", "/public/%2e%2E/admin", "/admin"},
    {"dotdot_last", "/a/b/..", "/a/"},
    // CVE-2021-29492: encoded slashes.
    {"encoded_slash", "/admin%2Fsecret", "/admin/secret"},
    {"encoded_slash_lower", "/public%2f..%2fadmin", "/admin"},
    {"encoded_backslash", "/public%5C..%5cadmin", "/admin"},
    {"backslash", "/public\\..\\admin", "/admin"},
    // CVE-2021-31920: repeated slashes.
    {"merge_slashes", "//admin///x", "/admin/x"},
    {"merge_encoded_slashes", "/%2F%2Fadmin", "/admin"},
    // CVE-2021-39156: fragment.
    {"fragment", "/admin#/public", "/admin"},
    {"fragment_after_query", "/admin?a#b", "/admin"},
    // Path parameters (Tomcat/Spring strip them).
    {"params_stripped", "/admin;jsessionid=1", "/admin"},
    {"params_dotdot", "/public/..;/admin", "/admin"},
    {"params_middle", "/a;x=1/b;y", "/a/b"},
    {"encoded_semicolon_is_data", "/a%3Bx", "/a%3Bx"},
    // Decoding: unreserved only, once.
    {"unreserved_decoded", "/%61%62%63%2D%5F%7E%30", "/abc-_~0"},
    {"reserved_kept_upper", "/a%3fb%20c", "/a%3Fb%20c"},
    {"no_double_decode", "/a%252Fb", "/a%252Fb"},
    {"nul_encoded", "/a%00b", nullptr},
    {"malformed_escape", "/a%zz", nullptr},
    {"truncated_escape", "/a%2", nullptr},
    {"relative", "admin", nullptr},
    {"empty", "", nullptr},
};

class PathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(PathTest, Normalize) {
  const PathCase& c = GetParam();
  const auto got = normalizePath(c.raw);
  if (c.normalized == nullptr) {
    EXPECT_FALSE(got.isOk()) << got.value();
  } else {
    ASSERT_TRUE(got.isOk()) << got.error().message;
    EXPECT_EQ(got.value(), c.normalized);
  }
}

INSTANTIATE_TEST_SUITE_P(Rbac, PathTest, ::testing::ValuesIn(kPaths),
                         [](const auto& info) { return std::string(info.param.name); });

// normalizePath answers already-normal paths without the full procedure: on every string of up
// to 6 characters over the characters that matter (and two that do not), both agree, result
// and error alike.
TEST(RbacPath, ShortcutAgreesWithTheFullProcedureOnEveryShortPath) {
  constexpr std::string_view kChars("/.a;%\\?#", 8);
  std::string path;
  size_t checked = 0;
  size_t unchanged = 0;  // paths the shortcut can take: the test must reach it often
  const auto visit = [&](auto& self, size_t left) -> void {
    const auto fast = normalizePath(path);
    const auto full = detail::normalizePathInFull(path);
    ASSERT_EQ(fast.isOk(), full.isOk()) << "'" << path << "'";
    if (fast.isOk()) {
      ASSERT_EQ(fast.value(), full.value()) << "'" << path << "'";
      if (fast.value() == path) ++unchanged;
    } else {
      ASSERT_EQ(fast.error().message, full.error().message) << "'" << path << "'";
    }
    ++checked;
    if (left == 0) return;
    for (char c : kChars) {
      path.push_back(c);
      self(self, left - 1);
      path.pop_back();
      if (::testing::Test::HasFatalFailure()) return;
    }
  };
  visit(visit, 6);
  EXPECT_EQ(checked, 299593u);  // 1 + 8 + ... + 8^6
  EXPECT_GT(unchanged, 100u);
}

TEST(RbacPath, RawNulIsRejected) {
  EXPECT_FALSE(normalizePath(std::string_view("/a\0b", 4)).isOk());
}

// End to end: a DENY on /admin cannot be dodged once the waypoint normalises the path.
TEST(RbacPath, DenyAdminHoldsForEveryBypassClass) {
  const auto set = compileOk({authz(
      R"(name: "no-admin" namespace: "foo" action: DENY
         rules { to { paths { exact: "/admin" } paths { prefix: "/admin/" } } })")});
  for (const char* raw : {"/admin", "/public/../admin", "/admin%2Fx", "//admin", "/admin#x",
                          "/ADMIN/../admin", "/admin;x", "/public/..;/admin", "/%61dmin"}) {
    const auto path = normalizePath(raw);
    ASSERT_TRUE(path.isOk()) << raw;
    Request req;
    req.attrs.path = path.value();
    EXPECT_FALSE(set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7).allowed) << raw;
  }
}

// CVE-2021-39155: host matching ignores case and port.
TEST(RbacPath, HostCaseAndPort) {
  EXPECT_EQ(hostForMatch("Example.COM:8080"), "Example.COM");
  EXPECT_EQ(hostForMatch("example.com."), "example.com");
  EXPECT_EQ(hostForMatch("[::1]:80"), "[::1]");
  EXPECT_EQ(hostForMatch("::1"), "::1");
  const auto set = compileOk({authz(
      R"(name: "no-host" namespace: "foo" action: DENY
         rules { to { hosts { exact: "secret.example.com" } } })")});
  for (const char* host : {"secret.example.com", "SECRET.example.com", "Secret.Example.Com:443",
                           "secret.example.com."}) {
    Request req;
    req.attrs.host = host;
    EXPECT_FALSE(set->evaluate({.ns = "foo"}, req.attrs, Mode::kL7).allowed) << host;
  }
}

TEST(RbacIp, ParseAndContain) {
  EXPECT_FALSE(IpAddress::parse("10.0.0").has_value());
  EXPECT_FALSE(IpAddress::parse("").has_value());
  EXPECT_FALSE(IpAddress::parse("[::1]").has_value());
  EXPECT_EQ(*IpAddress::parse("::ffff:1.2.3.4"), IpAddress::v4(0x01020304));
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
  EXPECT_EQ(IpAddress::v6(mapped), IpAddress::v4(0x01020304));
  std::array<uint8_t, 16> doc{0x20, 0x01, 0x0d, 0xb8};
  doc[15] = 7;
  EXPECT_EQ(IpAddress::v6(doc), *IpAddress::parse("2001:db8::7"));
  std::array<uint8_t, 16> near{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 1, 2, 3, 4};
  EXPECT_EQ(IpAddress::v6(near).family, IpAddress::Family::kV6);  // ::ff:0:0 is not mapped
  near[9] = 0xff;
  near[11] = 0xff;
  EXPECT_EQ(IpAddress::v6(near).family, IpAddress::Family::kV6);  // one byte off the prefix
  const auto c = Cidr::parse("192.168.1.0/23");
  ASSERT_TRUE(c.isOk());
  EXPECT_TRUE(c->contains(*IpAddress::parse("192.168.0.255")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("192.168.2.0")));
  const auto v6 = Cidr::parse("fe80::/10");
  ASSERT_TRUE(v6.isOk());
  EXPECT_TRUE(v6->contains(*IpAddress::parse("febf::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("fec0::1")));
  for (const char* bad :
       {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x", "x/8", "::ffff:10.0.0.0/90"}) {
    EXPECT_FALSE(Cidr::parse(bad).isOk()) << bad;
  }
}

}  // namespace
}  // namespace ambit::rbac::testing
