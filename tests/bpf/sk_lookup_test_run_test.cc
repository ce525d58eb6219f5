// BPF_PROG_TEST_RUN of the sk_lookup program (kernel >= 5.13): decisions without any traffic.
// The program runs in a throwaway netns; the selected socket is reported as its cookie.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "common/bpf/capture_client.h"
#include "common/bpf/maps.h"
#include "common/bpf/pin_dir.h"
#include "common/bpf/skeleton.h"
#include "common/netns.h"
#include "sk_lookup.skel.h"
#include "tests/bpf/kernel_env.h"

namespace ambit::bpf {
namespace {

using testing::listenIn;
using testing::TestNetns;
using testing::TestPinDir;

uint32_t v4(const char* text) {
  in_addr a{};
  EXPECT_EQ(::inet_pton(AF_INET, text, &a), 1);
  return a.s_addr;
}

class SkLookupTestRun : public ::testing::Test {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(test::missingBpf());
    ASSERT_TRUE(ensureBpffs());
    ASSERT_TRUE(ensureBpffsDir(PinDir(pin_.path()).maps()));
    auto skel = BpfSkeleton<struct sk_lookup>::open("sk_lookup", PinDir(pin_.path()).maps());
    ASSERT_TRUE(skel) << skel.error().message;
    ASSERT_TRUE(skel->load());
    skel_ = std::move(*skel);
    auto ns = TestNetns::create();
    ASSERT_TRUE(ns) << ns.error().message;
    ns_.emplace(std::move(*ns));

    auto lsn = listenIn(ns_->fd(), SockAddr::parse("127.0.0.1:15006").value());
    ASSERT_TRUE(lsn);
    listener_ = std::move(*lsn);
    socklen_t len = sizeof(listener_cookie_);
    ASSERT_EQ(::getsockopt(listener_.get(), SOL_SOCKET, SO_COOKIE, &listener_cookie_, &len), 0);
    ASSERT_NE(listener_cookie_, 0u);

    auto pods = MapHandle::fromFd(bpf_map__fd(skel_->maps.ambit_pods), AMBIT_MAP_PODS);
    ASSERT_TRUE(pods);
    PodConfig config;
    config.bypass_ports = {8081};
    config.probe_sources = {IpAddr::parse("10.200.0.3").value()};
    auto abi = config.toAbi(podTag("pod-a"));
    ASSERT_TRUE(abi);
    ASSERT_TRUE(PodConfigMap(std::move(*pods)).put(IpAddr::parse("10.200.0.2").value(), *abi));
    auto lsn_map = MapHandle::fromFd(bpf_map__fd(skel_->maps.ambit_in_lsn), AMBIT_MAP_IN_LISTENERS);
    ASSERT_TRUE(lsn_map);
    auto put = InboundListenerMap(std::move(*lsn_map))
                   .put(IpAddr::parse("10.200.0.2").value(), listener_.get());
    ASSERT_TRUE(put) << put.message();
  }

  // Runs the program for a TCP/IPv4 lookup; returns the cookie of the selected socket (0: none).
  uint64_t selected(const char* remote, const char* local, uint16_t local_port,
                    uint16_t remote_port = 40000) {
    bpf_sk_lookup ctx;
    std::memset(&ctx, 0, sizeof(ctx));
    ctx.family = AF_INET;
    ctx.protocol = IPPROTO_TCP;
    ctx.remote_ip4 = v4(remote);
    ctx.remote_port = htons(remote_port);  // network byte order; local_port is host order
    ctx.local_ip4 = v4(local);
    ctx.local_port = local_port;
    AMBIT_LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_out = &ctx,
                      .ctx_size_in = sizeof(ctx), .ctx_size_out = sizeof(ctx));
    int prog = bpf_program__fd(skel_->progs.ambit_sk_lookup);
    auto rc = inNetns(ns_->fd(), [&]() -> Result<int> {
      if (bpf_prog_test_run_opts(prog, &opts) != 0) return errnoError("BPF_PROG_TEST_RUN");
      return static_cast<int>(opts.retval);
    });
    EXPECT_TRUE(rc) << rc.error().message;
    EXPECT_EQ(rc ? *rc : -1, SK_PASS);
    return ctx.cookie;
  }

  TestPinDir pin_;
  BpfSkeleton<struct sk_lookup> skel_;
  std::optional<TestNetns> ns_;
  UniqueFd listener_;
  uint64_t listener_cookie_ = 0;
};

TEST_F(SkLookupTestRun, PodIpFromNetworkSelectsZtunnelListener) {
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 80), listener_cookie_);
}

TEST_F(SkLookupTestRun, HboneBypassPortsProbesAndStrangersAreNotSelected) {
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", AMBIT_PORT_HBONE), 0u);
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 8081), 0u);
  EXPECT_EQ(selected("10.200.0.3", "10.200.0.2", 80), 0u);
  EXPECT_EQ(selected("10.200.0.2", "10.200.0.2", 80), 0u);  // the pod itself
  EXPECT_EQ(selected("127.0.0.1", "10.200.0.2", 80), 0u);
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.9", 80), 0u);  // not a pod IP
}

TEST_F(SkLookupTestRun, ZtunnelsPendingConnectIsPassedOnlyWhileListed) {
  // The ztunnel's source-preserving connect to the app looks like a remote SYN to the pod IP:
  // only its exact 4-tuple in ambit_in_pend keeps sk_lookup from steering it back to 15006.
  auto map = MapHandle::fromFd(bpf_map__fd(skel_->maps.ambit_in_pend), AMBIT_MAP_IN_PENDING);
  ASSERT_TRUE(map);
  InboundPendingMap pending(std::move(*map));
  SockAddr client = SockAddr::parse("10.200.0.1:40000").value();
  SockAddr app = SockAddr::parse("10.200.0.2:8080").value();
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 8080), listener_cookie_);

  auto put = pending.put(client, app);
  ASSERT_TRUE(put) << put.message();
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 8080), 0u) << "the listed connect was steered";
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 8080, 40001), listener_cookie_)
      << "another client port passed";
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 9090), listener_cookie_)
      << "another app port passed";
  EXPECT_EQ(selected("10.200.0.4", "10.200.0.2", 8080), listener_cookie_)
      << "another client passed";

  auto removed = pending.remove(client, app);
  ASSERT_TRUE(removed) << removed.message();
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 8080), listener_cookie_)
      << "still passed after the entry was removed";
}

TEST_F(SkLookupTestRun, MissingListenerPassesAndCountsError) {
  auto lsn_map = MapHandle::fromFd(bpf_map__fd(skel_->maps.ambit_in_lsn), AMBIT_MAP_IN_LISTENERS);
  ASSERT_TRUE(lsn_map);
  ASSERT_TRUE(InboundListenerMap(std::move(*lsn_map)).remove(IpAddr::parse("10.200.0.2").value()));
  EXPECT_EQ(selected("10.200.0.1", "10.200.0.2", 80), 0u);
  auto stats = MapHandle::fromFd(bpf_map__fd(skel_->maps.ambit_stats), AMBIT_MAP_STATS);
  ASSERT_TRUE(stats);
  auto counters = StatsMap(std::move(*stats)).read();
  ASSERT_TRUE(counters);
  EXPECT_GE((*counters)[AMBIT_STAT_ERRORS], 1u);
}

}  // namespace
}  // namespace ambit::bpf
