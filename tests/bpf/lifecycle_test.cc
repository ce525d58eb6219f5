// Agent restart (adopt pinned links without a detach gap), reconciliation listings, cleanup.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "common/bpf/capture_client.h"
#include "common/bpf/capture_datapath.h"
#include "common/bpf/link.h"
#include "tests/bpf/kernel_env.h"

namespace ambit::bpf {
namespace {

using testing::acceptWithin;
using testing::addr;
using testing::ClientSpec;
using testing::listenIn;
using testing::PodClient;
using testing::TestCgroup;
using testing::TestNetns;
using testing::TestPinDir;

// Programs attached to the cgroup for one attach type.
uint32_t attachedCount(const std::string& cgroup, bpf_attach_type type) {
  UniqueFd fd(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  __u32 ids[8] = {};
  __u32 count = 8;
  EXPECT_EQ(bpf_prog_query(fd.get(), type, 0, nullptr, ids, &count), 0) << std::strerror(errno);
  return count;
}

// Link id of every pinned link, by pin path.
std::map<std::string, uint32_t> pinnedLinkIds(const PinDir& dir, const std::string& pod) {
  std::map<std::string, uint32_t> ids;
  std::vector<std::string> paths;
  for (const auto& n : CaptureDatapath::cgroupLinkNames()) paths.push_back(dir.link(n));
  paths.push_back(dir.podSkLookup(pod));
  for (const auto& p : paths) {
    auto link = BpfLink::openPinned(p);
    EXPECT_TRUE(link) << link.error().message;
    if (!link) continue;
    auto info = link->info();
    EXPECT_TRUE(info) << info.error().message;
    if (info) ids[p] = info->id;
  }
  return ids;
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(testing::missingKernelTestEnv());
    auto cg = TestCgroup::create();
    ASSERT_TRUE(cg) << cg.error().message;
    cgroup_.emplace(std::move(*cg));
    auto ns = TestNetns::create();
    ASSERT_TRUE(ns) << ns.error().message;
    pod_.emplace(std::move(*ns));
    auto cookie = pod_->cookie();
    ASSERT_TRUE(cookie);
    cookie_ = *cookie;
    auto lsn = listenIn(pod_->fd(), addr("127.0.0.1:15001"));
    ASSERT_TRUE(lsn);
    outbound_ = std::move(*lsn);
  }

  Result<std::unique_ptr<CaptureDatapath>> openDatapath() {
    return CaptureDatapath::open(pin_.path(), cgroup_->path());
  }

  // A connect from the pod to 10.1.2.3:80 is captured and its orig-dst readable by pin.
  void expectCaptured() {
    const SockAddr dst = addr("10.1.2.3:80");
    auto client = PodClient::start(cgroup_->path(), pod_->fd(), ClientSpec{dst});
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_EQ(client->report().connect_errno, 0) << std::strerror(client->report().connect_errno);
    auto accepted = acceptWithin(outbound_.get(), 3000);
    ASSERT_TRUE(accepted && accepted->valid());
    auto zt = CaptureClient::open(pin_.path());
    ASSERT_TRUE(zt) << zt.error().message;
    auto orig = zt->lookupOriginalDst(accepted->get());
    ASSERT_TRUE(orig && orig->has_value());
    EXPECT_EQ(**orig, dst);
  }

  std::optional<TestCgroup> cgroup_;
  TestPinDir pin_;
  std::optional<TestNetns> pod_;
  uint64_t cookie_ = 0;
  UniqueFd outbound_;
};

TEST_F(LifecycleTest, RestartAdoptsPinnedLinksAndKeepsCapturing) {
  const PinDir dir(pin_.path());
  std::map<std::string, uint32_t> ids_before;
  {
    auto dp = openDatapath();
    ASSERT_TRUE(dp) << dp.error().message;
    EXPECT_TRUE((*dp)->adoptedLinks().empty());
    ASSERT_TRUE((*dp)->enrollNetns(cookie_, {}));
    ASSERT_TRUE(
        (*dp)->attachInbound("pod-a", pod_->fd(), {IpAddr::parse("10.200.0.2").value()}, {}));
    ids_before = pinnedLinkIds(dir, "pod-a");
    ASSERT_EQ(ids_before.size(), CaptureDatapath::cgroupLinkNames().size() + 1);
  }  // agent "exits" without cleanup

  // Nothing loaded by anyone now: pins alone keep capture working.
  expectCaptured();

  auto dp = openDatapath();
  ASSERT_TRUE(dp) << dp.error().message;
  EXPECT_EQ((*dp)->adoptedLinks(), CaptureDatapath::cgroupLinkNames());
  ASSERT_TRUE((*dp)->attachInbound("pod-a", pod_->fd(), {IpAddr::parse("10.200.0.2").value()}, {}));
  // Same link objects (updated in place, never detached) and one program per hook.
  EXPECT_EQ(pinnedLinkIds(dir, "pod-a"), ids_before);
  EXPECT_EQ(attachedCount(cgroup_->path(), BPF_CGROUP_INET4_CONNECT), 1u);
  EXPECT_EQ(attachedCount(cgroup_->path(), BPF_CGROUP_SOCK_OPS), 1u);
  expectCaptured();

  auto enrolled = (*dp)->enrolledNetns();
  ASSERT_TRUE(enrolled);
  EXPECT_EQ(*enrolled, std::vector<uint64_t>{cookie_});
  auto pods = (*dp)->inboundPods();
  ASSERT_TRUE(pods);
  EXPECT_EQ(*pods, std::vector<std::string>{"pod-a"});
}

// Connections made continuously across an agent restart (close + re-open) are all captured.
TEST_F(LifecycleTest, RestartDropsNoConnection) {
  auto dp = openDatapath();
  ASSERT_TRUE(dp) << dp.error().message;
  ASSERT_TRUE((*dp)->enrollNetns(cookie_, {}));

  auto loop = testing::ConnectLoop::start(cgroup_->path(), pod_->fd(), addr("10.1.2.3:80"), 1500);
  ASSERT_TRUE(loop) << loop.error().message;
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::thread acceptor([&] {
    while (!stop) {
      auto fd = acceptWithin(outbound_.get(), 20);
      if (fd && fd->valid()) ++accepted;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  dp->reset();  // agent exits
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto again = openDatapath();  // agent restarts: new programs swapped into the pinned links
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto report = loop->join();
  stop = true;
  acceptor.join();
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(report) << report.error().message;
  RecordProperty("attempts", report->attempts);
  EXPECT_GT(report->attempts, 20);
  EXPECT_EQ(report->failures, 0) << "first error: " << std::strerror(report->first_errno);
  EXPECT_GE(accepted.load(), report->attempts - report->failures - 1);
}

// Re-opening for another cgroup moves the pinned links there (new attached before old goes).
TEST_F(LifecycleTest, OpenForAnotherCgroupMovesTheLinks) {
  {
    auto dp = openDatapath();
    ASSERT_TRUE(dp) << dp.error().message;
  }
  auto other = TestCgroup::create();
  ASSERT_TRUE(other) << other.error().message;
  auto dp = CaptureDatapath::open(pin_.path(), other->path());
  ASSERT_TRUE(dp) << dp.error().message;
  EXPECT_TRUE((*dp)->adoptedLinks().empty());
  EXPECT_EQ(attachedCount(cgroup_->path(), BPF_CGROUP_INET4_CONNECT), 0u);
  EXPECT_EQ(attachedCount(other->path(), BPF_CGROUP_INET4_CONNECT), 1u);
  EXPECT_EQ(attachedCount(other->path(), BPF_CGROUP_INET6_GETPEERNAME), 1u);
  dp->reset();
  EXPECT_TRUE(CaptureDatapath::cleanup(pin_.path()));
}

// A pod whose netns is already gone (its sk_lookup link is defunct) still detaches cleanly.
TEST_F(LifecycleTest, DetachInboundAfterPodNetnsIsGone) {
  auto dp = openDatapath();
  ASSERT_TRUE(dp) << dp.error().message;
  auto gone = TestNetns::create();
  ASSERT_TRUE(gone) << gone.error().message;
  {
    TestNetns doomed = std::move(*gone);
    auto st =
        (*dp)->attachInbound("pod-gone", doomed.fd(), {IpAddr::parse("10.200.0.9").value()}, {});
    ASSERT_TRUE(st) << st.message();
  }                                                             // netns deleted
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // netns teardown is async
  auto st = (*dp)->detachInbound("pod-gone");
  EXPECT_TRUE(st) << st.message();
  auto pods = (*dp)->inboundPods();
  ASSERT_TRUE(pods);
  EXPECT_TRUE(pods->empty());
}

TEST_F(LifecycleTest, CleanupRemovesEverything) {
  {
    auto dp = openDatapath();
    ASSERT_TRUE(dp) << dp.error().message;
    ASSERT_TRUE((*dp)->enrollNetns(cookie_, {}));
    ASSERT_TRUE(
        (*dp)->attachInbound("pod-a", pod_->fd(), {IpAddr::parse("10.200.0.2").value()}, {}));
  }
  auto st = CaptureDatapath::cleanup(pin_.path());
  ASSERT_TRUE(st) << st.message();
  EXPECT_FALSE(pathExists(pin_.path()));
  EXPECT_EQ(attachedCount(cgroup_->path(), BPF_CGROUP_INET4_CONNECT), 0u);
  EXPECT_EQ(attachedCount(cgroup_->path(), BPF_CGROUP_SOCK_OPS), 0u);

  // Capture is gone: the connect goes to the (unroutable) real destination.
  auto client = PodClient::start(cgroup_->path(), pod_->fd(), ClientSpec{addr("10.1.2.3:80")});
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_NE(client->report().connect_errno, 0);
  auto stray = acceptWithin(outbound_.get(), 100);
  EXPECT_TRUE(stray && !stray->valid());

  EXPECT_TRUE(CaptureDatapath::cleanup(pin_.path())) << "cleanup is idempotent";
}

TEST_F(LifecycleTest, ErrorsNameTheObject) {
  auto dp = CaptureDatapath::open(pin_.path(), "/nonexistent/ambit-cgroup");
  ASSERT_FALSE(dp);
  EXPECT_NE(dp.error().message.find("/nonexistent/ambit-cgroup"), std::string::npos)
      << dp.error().message;
  EXPECT_EQ(dp.error().code, ENOENT);

  auto client = CaptureClient::open("/sys/fs/bpf/ambit-test-does-not-exist");
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().message.find("ambit-test-does-not-exist/maps/ambit_orig_dst"),
            std::string::npos)
      << client.error().message;

  auto ok = openDatapath();
  ASSERT_TRUE(ok) << ok.error().message;
  auto bad = (*ok)->attachInbound("../escape", pod_->fd(), {}, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("invalid pod id"), std::string::npos);
}

}  // namespace
}  // namespace ambit::bpf
