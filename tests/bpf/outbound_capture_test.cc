// Real attach: cgroup/connect4|6 + sockops + getpeername in a throwaway cgroup and netns.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>

#include "common/bpf/capture_client.h"
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

class OutboundCaptureTest : public testing::DatapathTest {
 protected:
  // A fresh netns, enrolled with `config` unless enroll is false.
  std::optional<TestNetns> makePod(bool enroll = true, const NetnsConfig& config = {}) {
    auto ns = TestNetns::create();
    EXPECT_TRUE(ns) << ns.error().message;
    if (!ns) return std::nullopt;
    if (enroll) {
      auto cookie = ns->cookie();
      EXPECT_TRUE(cookie) << cookie.error().message;
      if (!cookie) return std::nullopt;
      auto st = dp_->enrollNetns(*cookie, config);
      EXPECT_TRUE(st) << st.message();
    }
    return std::move(*ns);
  }
};

TEST_F(OutboundCaptureTest, Ipv4ConnectLandsOn15001WithExactOriginalDst) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  auto lsn = listenIn(pod->fd(), addr("127.0.0.1:15001"));
  ASSERT_TRUE(lsn) << lsn.error().message;

  const SockAddr dst = addr("10.1.2.3:80");
  auto client = PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{dst});
  ASSERT_TRUE(client) << client.error().message;
  ASSERT_EQ(client->report().connect_errno, 0) << std::strerror(client->report().connect_errno);
  auto accepted = acceptWithin(lsn->get(), 3000);
  ASSERT_TRUE(accepted && accepted->valid()) << "nothing arrived on 127.0.0.1:15001";

  EXPECT_EQ(testing::peerAddr(accepted->get()), client->report().local);
  auto orig = dp_->lookupOriginalDst(accepted->get());
  ASSERT_TRUE(orig) << orig.error().message;
  ASSERT_TRUE(orig->has_value()) << "no orig-dst entry";
  EXPECT_EQ(**orig, dst) << (*orig)->toString();
  EXPECT_EQ(client->report().peer, dst) << "getpeername shows " << client->report().peer.toString();

  // The ztunnel's read-only path by pin gives the same answer.
  auto zt = CaptureClient::open(pin_.path());
  ASSERT_TRUE(zt) << zt.error().message;
  auto via_pin = zt->lookupOriginalDst(accepted->get());
  ASSERT_TRUE(via_pin && via_pin->has_value());
  EXPECT_EQ(**via_pin, dst);

  auto stats = dp_->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GE((*stats)[AMBIT_STAT_OUT_REDIRECTED], 1u);
  EXPECT_GE((*stats)[AMBIT_STAT_ORIG_DST_RECORDED], 1u);
}

TEST_F(OutboundCaptureTest, Ipv6ConnectLandsOnLoopback6) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  auto lsn = listenIn(pod->fd(), addr("[::1]:15001"));
  ASSERT_TRUE(lsn) << lsn.error().message;

  const SockAddr dst = addr("[fd00::1]:443");
  auto client = PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{dst});
  ASSERT_TRUE(client) << client.error().message;
  ASSERT_EQ(client->report().connect_errno, 0) << std::strerror(client->report().connect_errno);
  auto accepted = acceptWithin(lsn->get(), 3000);
  ASSERT_TRUE(accepted && accepted->valid()) << "nothing arrived on [::1]:15001";

  auto orig = dp_->lookupOriginalDst(accepted->get());
  ASSERT_TRUE(orig && orig->has_value()) << (orig ? "no entry" : orig.error().message);
  EXPECT_EQ(**orig, dst) << (*orig)->toString();
  EXPECT_EQ(client->report().peer, dst) << client->report().peer.toString();
}

TEST_F(OutboundCaptureTest, V4MappedOnDualStackSocketLandsOnLoopback4) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  auto lsn = listenIn(pod->fd(), addr("127.0.0.1:15001"));
  ASSERT_TRUE(lsn) << lsn.error().message;

  const SockAddr dst = addr("10.1.2.3:8080");
  auto client = PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{dst, /*ipv6_socket=*/true});
  ASSERT_TRUE(client) << client.error().message;
  ASSERT_EQ(client->report().connect_errno, 0) << std::strerror(client->report().connect_errno);
  auto accepted = acceptWithin(lsn->get(), 3000);
  ASSERT_TRUE(accepted && accepted->valid()) << "nothing arrived on 127.0.0.1:15001";

  auto orig = dp_->lookupOriginalDst(accepted->get());
  ASSERT_TRUE(orig && orig->has_value()) << (orig ? "no entry" : orig.error().message);
  EXPECT_EQ(**orig, dst) << (*orig)->toString();
  EXPECT_EQ(client->report().peer, dst) << client->report().peer.toString();  // ::ffff:10.1.2.3
}

TEST_F(OutboundCaptureTest, TwoPodsSameClientPortGetTheirOwnOriginalDst) {
  auto pod_a = makePod();
  auto pod_b = makePod();
  ASSERT_TRUE(pod_a && pod_b);
  auto lsn_a = listenIn(pod_a->fd(), addr("127.0.0.1:15001"));
  auto lsn_b = listenIn(pod_b->fd(), addr("127.0.0.1:15001"));
  ASSERT_TRUE(lsn_a && lsn_b);

  const SockAddr src = addr("0.0.0.0:40123");
  const SockAddr dst_a = addr("10.1.2.3:80");
  const SockAddr dst_b = addr("10.9.9.9:8080");
  auto client_a = PodClient::start(cgroup_->path(), pod_a->fd(), ClientSpec{dst_a, false, src});
  auto client_b = PodClient::start(cgroup_->path(), pod_b->fd(), ClientSpec{dst_b, false, src});
  ASSERT_TRUE(client_a && client_b);
  ASSERT_EQ(client_a->report().connect_errno, 0);
  ASSERT_EQ(client_b->report().connect_errno, 0);
  ASSERT_EQ(client_a->report().local, client_b->report().local) << "same source in both pods";
  EXPECT_EQ(client_a->report().local.port, 40123);

  auto acc_a = acceptWithin(lsn_a->get(), 3000);
  auto acc_b = acceptWithin(lsn_b->get(), 3000);
  ASSERT_TRUE(acc_a && acc_a->valid() && acc_b && acc_b->valid());
  auto orig_a = dp_->lookupOriginalDst(acc_a->get());
  auto orig_b = dp_->lookupOriginalDst(acc_b->get());
  ASSERT_TRUE(orig_a && orig_a->has_value() && orig_b && orig_b->has_value());
  EXPECT_EQ(**orig_a, dst_a) << (*orig_a)->toString();
  EXPECT_EQ(**orig_b, dst_b) << (*orig_b)->toString();
}

// A direct (uncaptured) connect to 15001 from a client ip:port that a captured connection used
// must not inherit that connection's original destination.
TEST_F(OutboundCaptureTest, DirectConnectTo15001NeverSeesAStaleOriginalDst) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  auto lsn = listenIn(pod->fd(), addr("0.0.0.0:15001"));
  ASSERT_TRUE(lsn) << lsn.error().message;
  const SockAddr src = addr("127.0.0.1:40200");

  auto captured =
      PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{addr("10.1.2.3:80"), false, src});
  ASSERT_TRUE(captured && captured->report().connect_errno == 0);
  auto first = acceptWithin(lsn->get(), 3000);
  ASSERT_TRUE(first && first->valid());
  auto orig = dp_->lookupOriginalDst(first->get());
  ASSERT_TRUE(orig && orig->has_value());

  auto direct =
      PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{addr("127.0.0.5:15001"), false, src});
  ASSERT_TRUE(direct) << direct.error().message;
  ASSERT_EQ(direct->report().connect_errno, 0) << std::strerror(direct->report().connect_errno);
  EXPECT_EQ(direct->report().local, src);
  auto second = acceptWithin(lsn->get(), 3000);
  ASSERT_TRUE(second && second->valid());
  auto none = dp_->lookupOriginalDst(second->get());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value()) << "stale entry " << (*none)->toString();
}

// Where a connection to 10.99.0.1:8080 (a real listener in the pod netns) ends up.
enum class Landed { kReal, kCaptured, kNowhere };

class OutboundBypassTest : public OutboundCaptureTest {
 protected:
  Landed connectFromPod(const TestNetns& pod, ClientSpec spec, bool in_cgroup = true) {
    // A non-loopback address of the pod itself (on lo: no dummy/veth module needed).
    EXPECT_TRUE(pod.ip("addr add 10.99.0.1/32 dev lo"));
    auto real = listenIn(pod.fd(), addr("10.99.0.1:8080"));
    auto trap = listenIn(pod.fd(), addr("127.0.0.1:15001"));
    EXPECT_TRUE(real && trap);
    if (!real || !trap) return Landed::kNowhere;
    spec.dst = addr("10.99.0.1:8080");
    auto client = PodClient::start(in_cgroup ? cgroup_->path() : "", pod.fd(), spec);
    EXPECT_TRUE(client) << client.error().message;
    if (!client) return Landed::kNowhere;
    if (auto a = acceptWithin(trap->get(), 200); a && a->valid()) return Landed::kCaptured;
    if (auto a = acceptWithin(real->get(), 2000); a && a->valid()) return Landed::kReal;
    return Landed::kNowhere;
  }
};

TEST_F(OutboundBypassTest, EnrolledPodIsCaptured) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  EXPECT_EQ(connectFromPod(*pod, {}), Landed::kCaptured);
}

TEST_F(OutboundBypassTest, NotEnrolledNetnsIsUntouched) {
  auto pod = makePod(/*enroll=*/false);
  ASSERT_TRUE(pod);
  EXPECT_EQ(connectFromPod(*pod, {}), Landed::kReal);
}

TEST_F(OutboundBypassTest, ZtunnelMarkedSocketIsUntouched) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  ClientSpec spec;
  spec.mark = AMBIT_SOCKET_MARK;
  EXPECT_EQ(connectFromPod(*pod, spec), Landed::kReal);
}

TEST_F(OutboundBypassTest, ProcessOutsideCgroupIsUntouched) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  EXPECT_EQ(connectFromPod(*pod, {}, /*in_cgroup=*/false), Landed::kReal);
}

TEST_F(OutboundBypassTest, BypassCidrIsUntouched) {
  NetnsConfig cfg;
  cfg.bypass_cidrs.push_back(Cidr::parse("10.99.0.0/16").value());
  auto pod = makePod(true, cfg);
  ASSERT_TRUE(pod);
  EXPECT_EQ(connectFromPod(*pod, {}), Landed::kReal);
}

TEST_F(OutboundBypassTest, BypassPortIsUntouched) {
  NetnsConfig cfg;
  cfg.bypass_ports = {9999, 8080};
  auto pod = makePod(true, cfg);
  ASSERT_TRUE(pod);
  EXPECT_EQ(connectFromPod(*pod, {}), Landed::kReal);
}

TEST_F(OutboundBypassTest, LoopbackDestinationIsUntouched) {
  auto pod = makePod();
  ASSERT_TRUE(pod);
  auto real = listenIn(pod->fd(), addr("127.0.0.1:8080"));
  auto trap = listenIn(pod->fd(), addr("127.0.0.1:15001"));
  ASSERT_TRUE(real && trap);
  auto client = PodClient::start(cgroup_->path(), pod->fd(), ClientSpec{addr("127.0.0.1:8080")});
  ASSERT_TRUE(client) << client.error().message;
  auto got = acceptWithin(real->get(), 2000);
  EXPECT_TRUE(got && got->valid());
  auto trapped = acceptWithin(trap->get(), 100);
  EXPECT_TRUE(trapped && !trapped->valid());
}

}  // namespace
}  // namespace ambit::bpf
