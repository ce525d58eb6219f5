// Real attach: sk_lookup in a pod netns steers plaintext from a peer (over a veth) to the
// registered 15006 listener, and leaves HBONE, bypass ports, probes and loopback alone.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "common/bpf/capture_client.h"
#include "common/bpf/capture_datapath.h"
#include "tests/bpf/kernel_env.h"

namespace ambit::bpf {
namespace {

using testing::acceptWithin;
using testing::addr;
using testing::connectFrom;
using testing::ip;
using testing::listenIn;
using testing::TestNetns;

class InboundSteeringTest : public testing::DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;

    auto pod = TestNetns::create();
    auto peer = TestNetns::create();
    ASSERT_TRUE(pod && peer);
    pod_.emplace(std::move(*pod));
    peer_.emplace(std::move(*peer));
    // pod 10.200.0.2 / fd00:200::2 <-veth-> peer 10.200.0.1 (+ probe source 10.200.0.3)
    ASSERT_TRUE(pod_->ip("link add v0 type veth peer name v1 netns " + peer_->name()));
    ASSERT_TRUE(pod_->ip("addr add 10.200.0.2/24 dev v0"));
    ASSERT_TRUE(pod_->ip("addr add fd00:200::2/64 dev v0 nodad"));
    ASSERT_TRUE(pod_->ip("link set v0 up"));
    ASSERT_TRUE(peer_->ip("addr add 10.200.0.1/24 dev v1"));
    ASSERT_TRUE(peer_->ip("addr add 10.200.0.3/24 dev v1"));
    ASSERT_TRUE(peer_->ip("addr add fd00:200::1/64 dev v1 nodad"));
    ASSERT_TRUE(peer_->ip("link set v1 up"));

    PodConfig config;
    config.bypass_ports = {8081};
    config.probe_sources = {ip("10.200.0.3")};
    auto st =
        dp_->attachInbound("pod-a", pod_->fd(), {ip("10.200.0.2"), ip("fd00:200::2")}, config);
    ASSERT_TRUE(st) << st.message();

    auto zt4 = listenIn(pod_->fd(), addr("127.0.0.1:15006"));
    auto zt6 = listenIn(pod_->fd(), addr("[::1]:15006"));
    ASSERT_TRUE(zt4 && zt6);
    ztunnel4_ = std::move(*zt4);
    ztunnel6_ = std::move(*zt6);
    auto client = CaptureClient::open(pin_.path());
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_TRUE(client->registerInboundListener(ip("10.200.0.2"), ztunnel4_.get()));
    ASSERT_TRUE(client->registerInboundListener(ip("fd00:200::2"), ztunnel6_.get()));
  }

  // Connects from the peer netns; returns the socket accepted on `expected`, asserting that
  // `trap` (the other candidate) saw nothing.
  UniqueFd expectLandsOn(int expected, int trap, const SockAddr& dst,
                         std::optional<SockAddr> src = std::nullopt, int from_netns = -1) {
    auto c = connectFrom(from_netns >= 0 ? from_netns : peer_->fd(), dst, src);
    EXPECT_TRUE(c) << c.error().message;
    if (!c) return UniqueFd();
    client_ = std::move(*c);
    auto got = acceptWithin(expected, 2000);
    EXPECT_TRUE(got && got->valid()) << "connection to " << dst.toString() << " not on expected";
    auto stray = acceptWithin(trap, 50);
    EXPECT_TRUE(stray && !stray->valid())
        << "connection to " << dst.toString() << " on the wrong listener";
    return got ? std::move(*got) : UniqueFd();
  }

  std::optional<TestNetns> pod_;
  std::optional<TestNetns> peer_;
  UniqueFd ztunnel4_, ztunnel6_, client_;
};

TEST_F(InboundSteeringTest, PlaintextToPodIpLandsOnZtunnelWithOriginalLocalAddress) {
  auto app = listenIn(pod_->fd(), addr("0.0.0.0:80"));
  ASSERT_TRUE(app);
  UniqueFd got = expectLandsOn(ztunnel4_.get(), app->get(), addr("10.200.0.2:80"));
  ASSERT_TRUE(got.valid());
  EXPECT_EQ(testing::localAddr(got.get()), addr("10.200.0.2:80"));
  EXPECT_EQ(testing::peerAddr(got.get()).ip, ip("10.200.0.1"));
  auto stats = dp_->stats();
  ASSERT_TRUE(stats);
  EXPECT_GE((*stats)[AMBIT_STAT_IN_STEERED], 1u);
}

TEST_F(InboundSteeringTest, Ipv6PlaintextLandsOnZtunnel) {
  auto app = listenIn(pod_->fd(), addr("[::]:80"));
  ASSERT_TRUE(app);
  UniqueFd got = expectLandsOn(ztunnel6_.get(), app->get(), addr("[fd00:200::2]:80"));
  ASSERT_TRUE(got.valid());
  EXPECT_EQ(testing::localAddr(got.get()), addr("[fd00:200::2]:80"));
}

TEST_F(InboundSteeringTest, HboneIsNotSteered) {
  auto hbone = listenIn(pod_->fd(), addr("0.0.0.0:15008"));
  ASSERT_TRUE(hbone);
  expectLandsOn(hbone->get(), ztunnel4_.get(), addr("10.200.0.2:15008"));
}

TEST_F(InboundSteeringTest, BypassPortIsNotSteered) {
  auto app = listenIn(pod_->fd(), addr("0.0.0.0:8081"));
  ASSERT_TRUE(app);
  expectLandsOn(app->get(), ztunnel4_.get(), addr("10.200.0.2:8081"));
}

TEST_F(InboundSteeringTest, ProbeSourceIsNotSteered) {
  auto app = listenIn(pod_->fd(), addr("0.0.0.0:80"));
  ASSERT_TRUE(app);
  expectLandsOn(app->get(), ztunnel4_.get(), addr("10.200.0.2:80"), addr("10.200.0.3:0"));
}

TEST_F(InboundSteeringTest, LoopbackTrafficInsidePodIsNotSteered) {
  auto app = listenIn(pod_->fd(), addr("0.0.0.0:80"));
  ASSERT_TRUE(app);
  expectLandsOn(app->get(), ztunnel4_.get(), addr("10.200.0.2:80"), std::nullopt, pod_->fd());
}

TEST_F(InboundSteeringTest, DetachStopsSteering) {
  auto app = listenIn(pod_->fd(), addr("0.0.0.0:80"));
  ASSERT_TRUE(app);
  auto st = dp_->detachInbound("pod-a");
  ASSERT_TRUE(st) << st.message();
  auto pods = dp_->inboundPods();
  ASSERT_TRUE(pods);
  EXPECT_TRUE(pods->empty());
  expectLandsOn(app->get(), ztunnel4_.get(), addr("10.200.0.2:80"));
}

}  // namespace
}  // namespace ambit::bpf
