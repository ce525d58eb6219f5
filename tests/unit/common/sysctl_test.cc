// writeSysctl*: a value lands in the namespace it was written for and nowhere else; a missing
// sysctl is an error naming it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/netns.h"
#include "common/unique_fd.h"
#include "tests/support/files.h"
#include "tests/support/requirements.h"

namespace ambit {
namespace {

constexpr const char* kKey = "net/ipv4/tcp_fwmark_accept";

std::string rawSysctl(const std::string& key) { return test::readFile("/proc/sys/" + key); }

// A fresh, anonymous network namespace (gone when the handle closes).
UniqueFd privateNetns() {
  UniqueFd ns;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) == 0) {
      ns = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    }
  }).join();
  return ns;
}

TEST(Sysctl, WritesInsideTheGivenNetnsOnly) {
  AMBIT_REQUIRE(test::missingRoot("CAP_SYS_ADMIN to create a network namespace"));
  UniqueFd ns = privateNetns();
  ASSERT_TRUE(ns) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
  const std::string host_before = rawSysctl(kKey);
  ASSERT_FALSE(host_before.empty());
  auto inside = [&]() {
    return inNetns(ns.get(), [&]() -> Result<std::string> { return rawSysctl(kKey); });
  };
  ASSERT_EQ(*inside(), "0\n");
  ASSERT_TRUE(writeSysctlInNetns(ns.get(), kKey, "1"));
  EXPECT_EQ(*inside(), "1\n");
  EXPECT_EQ(rawSysctl(kKey), host_before);
}

TEST(Sysctl, ReadsTheValueWithoutItsNewline) {
  auto value = readSysctl(kKey);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value + "\n", test::readFile(std::string("/proc/sys/") + kKey));
  auto missing = readSysctl("net/ipv4/no_such_sysctl");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("net/ipv4/no_such_sysctl"), std::string::npos);
}

TEST(Sysctl, AMissingSysctlIsAnErrorNamingIt) {
  Status st = writeSysctl("net/ipv4/no_such_sysctl", "1");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENOENT);
  EXPECT_NE(st.message().find("net/ipv4/no_such_sysctl=1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace ambit
