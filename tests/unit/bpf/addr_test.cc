#include "common/bpf/addr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "common/bpf/maps.h"
#include "common/bpf/pin_dir.h"

namespace ambit::bpf {
namespace {

TEST(AddrTest, ParsesAndFormats) {
  auto v4 = SockAddr::parse("10.1.2.3:80");
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_TRUE(v4->ip.isV4());
  EXPECT_EQ(v4->toString(), "10.1.2.3:80");
  auto v6 = SockAddr::parse("[fd00::1]:443");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_FALSE(v6->ip.isV4());
  EXPECT_EQ(v6->toString(), "[fd00::1]:443");
  auto mapped = IpAddr::parse("::ffff:10.1.2.3");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, v4->ip);
  EXPECT_FALSE(SockAddr::parse("10.1.2.3:99999"));
  EXPECT_FALSE(SockAddr::parse("nonsense"));
  EXPECT_FALSE(IpAddr::parse("10.1.2"));
}

TEST(AddrTest, CidrMaskCoversV4MappedPrefix) {
  auto c = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(c) << c.error().message;
  ambit_cidr abi = c->toAbi();
  EXPECT_EQ(abi.mask.addr[0], 0xffffffffu);
  EXPECT_EQ(abi.mask.addr[2], 0xffffffffu);
  EXPECT_EQ(abi.mask.addr[3], htonl(0xff000000u));
  EXPECT_EQ(abi.net.addr[3], htonl(0x0a000000u));
  auto c6 = Cidr::parse("fd00::/8");
  ASSERT_TRUE(c6);
  EXPECT_EQ(c6->toAbi().mask.addr[0], htonl(0xff000000u));
  EXPECT_EQ(c6->toAbi().mask.addr[1], 0u);
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
}

TEST(AddrTest, ConfigLimitsAreErrors) {
  NetnsConfig cfg;
  cfg.bypass_ports.assign(AMBIT_MAX_BYPASS_PORTS + 1, 1);
  auto abi = cfg.toAbi();
  ASSERT_FALSE(abi);
  EXPECT_NE(abi.error().message.find("at most"), std::string::npos);
}

TEST(AddrTest, PodIdValidation) {
  EXPECT_TRUE(validatePodId("default_my-app-7d9_abc"));
  EXPECT_FALSE(validatePodId("default_my-app.abc")) << "bpffs refuses names with a dot";
  EXPECT_FALSE(validatePodId(".."));
  EXPECT_FALSE(validatePodId("a/b"));
  EXPECT_FALSE(validatePodId(""));
  EXPECT_NE(podTag("a"), podTag("b"));
}

}  // namespace
}  // namespace ambit::bpf
