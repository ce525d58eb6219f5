#include "common/identity/spiffe.h"

#include <gtest/gtest.h>

namespace ambit::identity {
namespace {

TEST(SpiffeIdTest, ParsesCanonicalForm) {
  auto id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/my-app");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->trustDomain, "cluster.local");
  EXPECT_EQ(id->ns, "default");
  EXPECT_EQ(id->serviceAccount, "my-app");
  EXPECT_EQ(id->toString(), "spiffe://cluster.local/ns/default/sa/my-app");
}

TEST(SpiffeIdTest, AcceptsValidVariants) {
  for (const char* uri :
       {"spiffe://td/ns/a/sa/b", "spiffe://my_corp-1.example/ns/kube-system/sa/x.y",
        "spiffe://cluster.local/ns/n0/sa/0"}) {
    auto id = SpiffeId::parse(uri);
    EXPECT_TRUE(id) << uri << ": " << id.error().message;
    if (id) {
      EXPECT_EQ(id->toString(), uri);
    }
  }
}

TEST(SpiffeIdTest, RejectsMalformedTable) {
  struct Case {
    const char* uri;
    const char* why;  // substring of the error
  };
  const Case cases[] = {
      {"", "scheme"},
      {"https://cluster.local/ns/a/sa/b", "scheme"},
      {"SPIFFE://cluster.local/ns/a/sa/b", "scheme"},
      {"spiffe://cluster.local", "no path"},
      {"spiffe:///ns/a/sa/b", "trust domain is empty"},
      {"spiffe://Cluster.local/ns/a/sa/b", "invalid character"},
      {"spiffe://cluster..local/ns/a/sa/b", "empty label"},
      {"spiffe://.cluster/ns/a/sa/b", "empty label"},
      {"spiffe://cluster.local:443/ns/a/sa/b", "id-port"},
      {"spiffe://user@cluster.local/ns/a/sa/b", "id-userinfo"},
      {"spiffe://cluster.local/ns/a/sa/b/", "id-path-trailing-slash"},
      {"spiffe://cluster.local/ns/a/sa", "exactly"},
      {"spiffe://cluster.local/ns//sa/b", "id-path-empty-segment"},
      {"spiffe://cluster.local/ns/a/sa/", "id-path-trailing-slash"},
      {"spiffe://cluster.local/sa/b/ns/a", "exactly"},
      {"spiffe://cluster.local/ns/a/sa/b/extra/x", "exactly"},
      {"spiffe://cluster.local/ns/A/sa/b", "invalid character"},
      {"spiffe://cluster.local/ns/a.b/sa/b", "invalid character"},
      {"spiffe://cluster.local/ns/-a/sa/b", "start and end"},
      {"spiffe://cluster.local/ns/a/sa/b?x=1", "id-query"},
      {"spiffe://cluster.local/ns/a/sa/b%20", "id-path-percent"},
      {"spiffe://cluster.local/ns/a/sa/b#f", "id-fragment"},
  };
  for (const Case& c : cases) {
    auto id = SpiffeId::parse(c.uri);
    ASSERT_FALSE(id) << "accepted '" << c.uri << "'";
    EXPECT_NE(id.error().message.find(c.why), std::string::npos)
        << c.uri << " -> " << id.error().message;
  }
}

TEST(SpiffeIdTest, RejectsOverlongNames) {
  EXPECT_FALSE(SpiffeId::make("td", std::string(64, 'a'), "sa"));
  EXPECT_TRUE(SpiffeId::make("td", std::string(63, 'a'), "sa"));
  EXPECT_FALSE(SpiffeId::make(std::string(256, 'a'), "ns", "sa"));
}

TEST(SpiffeIdTest, TrustDomainCheck) {
  auto id = SpiffeId::make("cluster.local", "ns", "sa");
  ASSERT_TRUE(id);
  EXPECT_TRUE(checkTrustDomain(*id, "cluster.local"));
  Status other = checkTrustDomain(*id, "other.local");
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("other.local"), std::string::npos);
}

}  // namespace
}  // namespace ambit::identity
