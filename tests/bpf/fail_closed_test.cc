// Fail closed before the first connect (AMBIT_MAP_POD_CGROUPS): real connect4/6 attached to a
// throwaway cgroup, a "pod" cgroup below it in the kubelet's layout with a container child, and
// a pod netns that is not enrolled yet. A TCP connect from the container is refused (EPERM) and
// counted for the pod, except to loopback; a process outside the marked pod is untouched; once
// the netns is enrolled the same connect is captured; once unmarked, nothing is refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/bpf/capture_datapath.h"
#include "tests/bpf/kernel_env.h"

namespace ambit::bpf {
namespace {

using testing::acceptWithin;
using testing::addr;
using testing::ClientSpec;
using testing::listenIn;
using testing::PodClient;
using testing::TestNetns;

// Nested cgroups below the test cgroup, removed deepest first (after their processes exit).
class NestedCgroups {
 public:
  Status add(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directory(path, ec);
    if (ec) return makeError("mkdir {}: {}", path, ec.message());
    made_.push_back(path);
    return Status::ok();
  }
  ~NestedCgroups() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) ::rmdir(it->c_str());
  }

 private:
  std::vector<std::string> made_;
};

class FailClosedTest : public testing::DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string base = cgroup_->path();
    pod_ = base + "/kubepods/burstable/pod0f6a2b1c-aaaa-4bbb-8ccc-123456789abc";
    container_ = pod_ + "/ctr";
    other_ = base + "/kubepods/burstable/other";
    for (const auto& d :
         {base + "/kubepods", base + "/kubepods/burstable", pod_, container_, other_}) {
      auto st = cgroups_.add(d);
      ASSERT_TRUE(st) << st.message();
    }
    auto id = CaptureDatapath::cgroupId(pod_);
    ASSERT_TRUE(id) << id.error().message;
    pod_id_ = *id;
    auto ns = TestNetns::create();
    ASSERT_TRUE(ns) << ns.error().message;
    netns_.emplace(std::move(*ns));
  }
  int connectErrno(const std::string& cgroup, const char* dst, bool ipv6_socket = false) {
    auto client = PodClient::start(cgroup, netns_->fd(), ClientSpec{addr(dst), ipv6_socket});
    EXPECT_TRUE(client) << client.error().message;
    return client ? client->report().connect_errno : -1;
  }
  uint64_t refused() {
    auto marked = dp_->markedPodCgroups();
    EXPECT_TRUE(marked) << marked.error().message;
    if (!marked) return 0;
    for (const auto& [id, count] : *marked) {
      if (id == pod_id_) return count;
    }
    return 0;
  }

  NestedCgroups cgroups_;
  std::string pod_, container_, other_;
  uint64_t pod_id_ = 0;
  std::optional<TestNetns> netns_;
};

TEST_F(FailClosedTest, MarkedPodCannotConnectBeforeItsNetnsIsEnrolled) {
  ASSERT_TRUE(dp_->markPodCgroup(pod_id_));
  EXPECT_EQ(connectErrno(container_, "10.1.2.3:80"), EPERM);
  EXPECT_EQ(connectErrno(container_, "[fd00::1]:443"), EPERM);
  EXPECT_EQ(connectErrno(container_, "10.1.2.3:8080", /*ipv6_socket=*/true), EPERM);
  EXPECT_EQ(connectErrno(pod_, "10.1.2.3:80"), EPERM) << "the pod cgroup itself too";
  EXPECT_EQ(refused(), 4u);
  ASSERT_TRUE(dp_->markPodCgroup(pod_id_));
  EXPECT_EQ(refused(), 4u) << "marking again keeps the count";
}

TEST_F(FailClosedTest, LoopbackAndOtherCgroupsAreNotRefused) {
  ASSERT_TRUE(dp_->markPodCgroup(pod_id_));
  auto lsn = listenIn(netns_->fd(), addr("127.0.0.1:0"));
  ASSERT_TRUE(lsn) << lsn.error().message;
  std::string local = testing::localAddr(lsn->get()).toString();
  EXPECT_EQ(connectErrno(container_, local.c_str()), 0) << "loopback stays inside the pod";
  EXPECT_NE(connectErrno(other_, "10.1.2.3:80"), EPERM) << "not a marked pod";
  EXPECT_EQ(refused(), 0u);
}

TEST_F(FailClosedTest, EnrolledNetnsIsCapturedAndUnmarkedPodIsFree) {
  ASSERT_TRUE(dp_->markPodCgroup(pod_id_));
  auto lsn = listenIn(netns_->fd(), addr("127.0.0.1:15001"));
  ASSERT_TRUE(lsn) << lsn.error().message;
  auto cookie = netns_->cookie();
  ASSERT_TRUE(cookie) << cookie.error().message;
  ASSERT_TRUE(dp_->enrollNetns(*cookie, {}));
  EXPECT_EQ(connectErrno(container_, "10.1.2.3:80"), 0);
  auto accepted = acceptWithin(lsn->get(), 3000);
  EXPECT_TRUE(accepted && accepted->valid()) << "the enrolled pod's connect was not captured";

  // Leaving the mesh: unmark first, then de-enroll; nothing is refused afterwards.
  ASSERT_TRUE(dp_->unmarkPodCgroup(pod_id_));
  ASSERT_TRUE(dp_->unenrollNetns(*cookie));
  EXPECT_NE(connectErrno(container_, "10.1.2.3:80"), EPERM);
  auto marked = dp_->markedPodCgroups();
  ASSERT_TRUE(marked);
  EXPECT_TRUE(marked->empty());
  EXPECT_TRUE(dp_->unmarkPodCgroup(pod_id_)) << "unmarking an unmarked pod is not an error";
}

}  // namespace
}  // namespace ambit::bpf
