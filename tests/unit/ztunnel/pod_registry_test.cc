// PodRegistry: per-pod listeners (15001 on both loopbacks, 15006 steered, 15008 once the
// certificate is there), their removal, the hand-off thread's add/delete/snapshot, and the
// refusal of new pods while draining.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <mutex>
#include <thread>

#include "tests/unit/ztunnel/registry_harness.h"
#include "ztunnel/data_thread.h"

namespace ambit::ztunnel::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool refused(asio::io_context& io, const tcp::endpoint& ep) {
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(ep, ec);
  return ec == asio::error::connection_refused;
}

TEST_F(RegistryTest, OpenedPodListensOnItsPortsAndSteersItsAddresses) {
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo("my-app-v1", "my-app", {"127.0.0.2", "fd00::2"});
  ASSERT_TRUE(pods.openPod(pod));
  EXPECT_EQ(pod->spiffe_id, "spiffe://cluster.local/ns/default/sa/my-app");
  std::vector<std::string> asked;
  for (const auto& ep : sockets.requested) asked.push_back(hbone::formatAuthority(ep));
  EXPECT_EQ(asked, (std::vector<std::string>{"127.0.0.1:15001", "[::1]:15001", "[::]:15006",
                                             "[::]:15008"}));
  ASSERT_EQ(steering.listeners.size(), 2u);
  EXPECT_EQ(steering.listeners["127.0.0.2"], pod->inbound_plaintext->native_handle());
  EXPECT_EQ(steering.listeners["fd00::2"], pod->inbound_plaintext->native_handle());
  EXPECT_EQ(pods.find("default/my-app-v1"), pod.get());
  EXPECT_TRUE(pod->hbone_pending) << "HBONE waits for startHbone";
  ASSERT_TRUE(pods.startHbone("default/my-app-v1"));
  EXPECT_FALSE(pod->hbone_pending);
}

TEST_F(RegistryTest, CapturedConnectionOnAPodsOutboundListenerIsProxied) {
  applyMesh();
  openPod("client", "client", {"10.1.2.3"});
  original_dst.answer = std::optional{sockAddr("127.0.0.2", 8080)};
  dialer.accept("pong");
  for (const char* lo : {"127.0.0.1", "::1"}) {
    tcp::socket app(io);
    app.connect(sockets.where(lo, 15001));
    EXPECT_EQ(run(exchange(app, "ping")).received, "pong") << lo;
    dialer.accept("pong");
  }
  ASSERT_EQ(dialer.dials.size(), 2u);
  EXPECT_EQ(dialer.dials[0].source_identity, "spiffe://cluster.local/ns/default/sa/client");
}

TEST_F(RegistryTest, ClosedPodStopsListeningAndSteering) {
  auto pod = openPod("my-app-v1", "my-app", {"127.0.0.2"});
  tcp::endpoint out = sockets.where("127.0.0.1", 15001);
  pods.closePod("default/my-app-v1");
  EXPECT_EQ(pods.find("default/my-app-v1"), nullptr);
  EXPECT_TRUE(steering.listeners.empty());
  EXPECT_TRUE(refused(io, out));
  EXPECT_FALSE(pod->inbound_plaintext->is_open());
}

TEST_F(RegistryTest, RepeatedOpenKeepsThePodAsItIs) {
  auto pod = openPod("my-app-v1", "my-app", {"127.0.0.2"});
  auto again = std::make_shared<Pod>();
  again->info = pod->info;
  EXPECT_TRUE(pods.openPod(again));
  EXPECT_EQ(pods.find("default/my-app-v1"), pod.get());
  EXPECT_EQ(again->spiffe_id, pod->spiffe_id) << "the caller waits on it";
  EXPECT_EQ(sockets.requested.size(), 4u) << "no second set of listeners";
}

TEST_F(RegistryTest, BadInputIsRefusedWithTheReason) {
  auto bad_ip = std::make_shared<Pod>();
  bad_ip->info = podInfo("odd", "odd", {"127.0.0.300"});
  Status st = pods.openPod(bad_ip);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("bad address '127.0.0.300'"), std::string::npos) << st.message();
  EXPECT_EQ(pods.find("default/odd"), nullptr);

  EXPECT_FALSE(pods.addPod(podInfo("no-netns", "sa", {"10.0.0.8"}), UniqueFd()));
}

TEST_F(RegistryTest, DrainingRefusesNewPodsAndClosesListeners) {
  auto pod = openPod("my-app-v1", "my-app", {"127.0.0.2"});
  pods.stopAccepting();
  EXPECT_FALSE(pod->outbound[0]->is_open());
  EXPECT_FALSE(pod->inbound_plaintext->is_open());
  auto late = std::make_shared<Pod>();
  late->info = podInfo("late", "late", {"10.0.0.7"});
  Status st = pods.openPod(late);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("draining"), std::string::npos) << st.message();
}

TEST_F(RegistryTest, APodAwaitsItsSuccessorUntilANewListenerJoinsItsHbonePort) {
  sockets.others.emplace(15008, 1000001);  // a predecessor's, there before the pod opened
  auto pod = openPod("my-app-v1", "my-app", {"127.0.0.2"});
  EXPECT_NE(pod->hbone_inode, 0u);
  EXPECT_EQ(pod->hbone_predecessors, (std::set<uint64_t>{1000001}));
  EXPECT_EQ(pods.podsAwaitingSuccessor(), 1u) << "its own and its predecessor's listeners only";
  sockets.others.emplace(15006, 1000002);  // not the HBONE port: no successor yet
  EXPECT_EQ(pods.podsAwaitingSuccessor(), 1u);
  sockets.others.emplace(15008, 1000003);
  EXPECT_EQ(pods.podsAwaitingSuccessor(), 0u);
  sockets.listeners_error = "sock_diag refused";
  EXPECT_EQ(pods.podsAwaitingSuccessor(), 1u) << "cannot tell: keeps waiting";
}

TEST_F(RegistryTest, NoPodsAwaitNoSuccessor) { EXPECT_EQ(pods.podsAwaitingSuccessor(), 0u); }

// The hand-off thread's view: the data thread runs on its own thread, as in the ztunnel.
class HandoffTest : public RegistryTest {
 protected:
  void SetUp() override {
    data_thread = std::thread([this] { io.run(); });
  }
  void TearDown() override { stopDataThread(); }
  void stopDataThread() {
    work.reset();
    io.stop();
    if (data_thread.joinable()) data_thread.join();
  }
  UniqueFd netns() { return UniqueFd(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)); }
  bool served(const std::string& uid) {
    auto r = runOnDataThread(io, [&]() -> Result<bool> { return pods.find(uid) != nullptr; });
    return r && *r;
  }

  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread data_thread;
};

TEST_F(HandoffTest, AddedPodIsAckedWithItsCertificateAndSnapshotsDropTheUnnamed) {
  ASSERT_TRUE(pods.addPod(podInfo("my-app-v1", "my-app", {"127.0.0.2"}), netns()));
  ASSERT_TRUE(pods.addPod(podInfo("my-app-v2", "my-app", {"127.0.0.3"}), netns()));
  auto ready = runOnDataThread(io, [&]() -> Result<bool> {
    return identities.ready("spiffe://cluster.local/ns/default/sa/my-app");
  });
  EXPECT_TRUE(ready && *ready) << "the ack waits for the certificate";
  EXPECT_TRUE(served("default/my-app-v1"));

  pods.snapshotStart();  // a reconnect: the agent names every pod it still has
  ASSERT_TRUE(pods.addPod(podInfo("my-app-v1", "my-app", {"127.0.0.2"}), netns()));
  pods.snapshotDone();
  EXPECT_TRUE(served("default/my-app-v1"));
  EXPECT_FALSE(served("default/my-app-v2"));

  ASSERT_TRUE(pods.deletePod("default/my-app-v1"));
  EXPECT_FALSE(served("default/my-app-v1"));
}

// A CA that holds the requests unanswered while held (from the start, and again after hold()):
// release() signs them and then answers at once.
class HeldCa final : public identity::CertificateFetcher {
 public:
  void fetch(std::string csr_pem, std::chrono::seconds ttl, Done done) override {
    std::unique_lock lock(mu_);
    if (held_) {
      pending_.push_back({std::move(csr_pem), ttl, std::move(done)});
      return;
    }
    lock.unlock();
    ca_.fetch(std::move(csr_pem), ttl, std::move(done));
  }
  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    std::vector<Request> pending;
    {
      std::lock_guard lock(mu_);
      held_ = false;
      pending.swap(pending_);
    }
    for (auto& r : pending) ca_.fetch(std::move(r.csr_pem), r.ttl, std::move(r.done));
  }

 private:
  struct Request {
    std::string csr_pem;
    std::chrono::seconds ttl;
    Done done;
  };
  InProcessCa ca_;
  std::mutex mu_;
  bool held_ = true;
  std::vector<Request> pending_;
};

// A registry whose certificates come from a HeldCa. Its members go after TearDown has stopped
// the data thread, also when an assertion ends the test early.
class SilentCaHandoffTest : public HandoffTest {
 protected:
  static constexpr auto kWait = std::chrono::milliseconds(2000);
  std::shared_ptr<HeldCa> held = std::make_shared<HeldCa>();
  identity::IdentityStore store{io, held, {}, "cluster.local"};
  PodRegistry registry{io, {.identity_wait = kWait}, sockets, steering, store, outbound, inbound};

  bool hasCertificate(const std::string& service_account) {
    auto ready = runOnDataThread(io, [&]() -> Result<bool> {
      return store.ready("spiffe://cluster.local/ns/default/sa/" + service_account);
    });
    return ready && *ready;
  }
};

// A hand-off while the CA does not answer (ambit-control down during a node upgrade): the first
// pod waits its whole identity wait, the next ones only briefly, so three pods are served in
// about one wait rather than three. Once the CA has issued certificates again, a pod waits its
// whole wait for its own again.
TEST_F(SilentCaHandoffTest, AfterAnIdentityWaitRanOutTheNextPodsWaitBrieflyUntilTheCaAnswers) {
  const auto started = std::chrono::steady_clock::now();
  for (const auto& [name, ip] :
       {std::pair{"a", "127.0.0.11"}, {"b", "127.0.0.12"}, {"c", "127.0.0.13"}}) {
    ASSERT_TRUE(registry.addPod(podInfo(name, name, {ip}), netns())) << name;
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, kWait) << "the first pod waits for its certificate";
  EXPECT_LT(took, 5 * kWait / 2) << "the second and third pods waited the whole wait again";
  EXPECT_FALSE(hasCertificate("a"));

  held->release();  // a, b and c get theirs: the CA answers again
  held->hold();     // d's request waits a second
  std::jthread answer([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    held->release();
  });
  ASSERT_TRUE(registry.addPod(podInfo("d", "d", {"127.0.0.14"}), netns()));
  EXPECT_TRUE(hasCertificate("d")) << "acked without waiting for its certificate";
  EXPECT_TRUE(hasCertificate("a"));
}

}  // namespace
}  // namespace ambit::ztunnel::testing
