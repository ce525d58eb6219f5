// CertificateManager with a fake wall clock, fake timers, scripted randomness and a fake
// fetcher backed by a real EmbeddedCa.

#include "common/identity/cert_manager.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cmath>
#include <deque>
#include <random>

#include "common/identity/csr.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

struct Shot {
  milliseconds delay{-1};
  std::function<void()> fn;
  bool armed = false;
};

class FakeTimer final : public RefreshTimer {
 public:
  explicit FakeTimer(std::shared_ptr<Shot> shot) : shot_(std::move(shot)) {}
  void arm(milliseconds delay, std::function<void()> fn) override {
    *shot_ = Shot{delay, std::move(fn), true};
  }
  void cancel() override { shot_->armed = false; }

 private:
  std::shared_ptr<Shot> shot_;
};

class FakeFetcher final : public CertificateFetcher {
 public:
  struct Pending {
    std::string csrPem;
    std::chrono::seconds ttl;
    Done done;
  };
  void fetch(std::string csrPem, std::chrono::seconds ttl, Done done) override {
    pending.push_back({std::move(csrPem), ttl, std::move(done)});
  }
  void succeed(EmbeddedCa& ca) {
    ASSERT_FALSE(pending.empty());
    Pending p = std::move(pending.front());
    pending.pop_front();
    p.done(ca.sign(p.csrPem, p.ttl, testing::allowAll()));
  }
  void fail(const std::string& why) {
    ASSERT_FALSE(pending.empty());
    Pending p = std::move(pending.front());
    pending.pop_front();
    p.done(Error{EAGAIN, why});
  }
  std::deque<Pending> pending;
};

class CertManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    *clock_.now = std::chrono::floor<std::chrono::seconds>(*clock_.now);  // X.509 has seconds
    ca_ = testing::openCa(dir_.path(), clock_.fn());
    ASSERT_TRUE(ca_);
    auto id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/my-app");
    ASSERT_TRUE(id);
    id_ = *id;
  }

  std::shared_ptr<CertificateManager> makeManager(std::function<double()> random = [] {
    return 0.5;
  }) {
    CertificateManagerOptions o;
    o.requestedTtl = 1h;
    o.clock = clock_.fn();
    o.random = std::move(random);
    o.timers = [this] {
      shot_ = std::make_shared<Shot>();
      return std::make_unique<FakeTimer>(shot_);
    };
    return CertificateManager::create(io_.get_executor(), fetcher_, std::move(o),
                                      [this](const SpiffeId& id, auto cert) {
                                        EXPECT_EQ(id, id_);
                                        rotations_.push_back(cert);
                                      });
  }

  // Runs ready handlers; restart() because poll() leaves the io_context stopped once idle.
  void poll() {
    io_.restart();
    io_.poll();
  }

  void fire() {
    ASSERT_TRUE(shot_ && shot_->armed);
    shot_->armed = false;
    clock_.advance(shot_->delay);
    auto fn = std::move(shot_->fn);
    fn();
    poll();
  }

  test::TempDir dir_;
  testing::FakeWallClock clock_;
  std::unique_ptr<EmbeddedCa> ca_;
  SpiffeId id_;
  boost::asio::io_context io_;
  std::shared_ptr<FakeFetcher> fetcher_ = std::make_shared<FakeFetcher>();
  std::shared_ptr<Shot> shot_;
  std::vector<std::shared_ptr<const WorkloadCertificate>> rotations_;
};

TEST_F(CertManagerTest, FetchesThenRefreshesAtHalfLifetime) {
  auto mgr = makeManager();
  mgr->track(id_);
  mgr->track(id_);  // idempotent
  poll();
  ASSERT_EQ(fetcher_->pending.size(), 1u);
  EXPECT_EQ(fetcher_->pending.front().ttl, 1h);
  EXPECT_EQ(mgr->current(id_), nullptr);
  fetcher_->succeed(*ca_);
  poll();

  auto first = mgr->current(id_);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->id, id_);
  ASSERT_EQ(rotations_.size(), 1u);
  EXPECT_EQ(rotations_[0], first);
  // Valid [now - 1min, now + 1h]: half of 61 minutes after notBefore is now + 29m30s.
  EXPECT_EQ(shot_->delay, milliseconds(29min + 30s));

  fire();
  ASSERT_EQ(fetcher_->pending.size(), 1u);
  EXPECT_EQ(mgr->current(id_), first);  // still served while the refresh is in flight
  fetcher_->succeed(*ca_);
  poll();
  auto second = mgr->current(id_);
  ASSERT_NE(second, first);
  ASSERT_EQ(rotations_.size(), 2u);
  EXPECT_EQ(rotations_[1], second);
  EXPECT_GT(second->notAfter, first->notAfter);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(first->leaf()),
                             X509_get0_serialNumber(second->leaf())),
            0);
  EXPECT_EQ(EVP_PKEY_eq(first->key.get(), second->key.get()), 0);  // fresh key each time
  EXPECT_EQ(shot_->delay, milliseconds(29min + 30s));
}

TEST_F(CertManagerTest, BackoffDoublesToCapWithinJitterBounds) {
  auto low = makeManager([] { return 0.0; });
  auto high = makeManager([] { return std::nextafter(1.0, 0.0); });
  auto mid = makeManager([] { return 0.5; });
  for (int failures = 1; failures <= 12; ++failures) {
    milliseconds nominal = std::min<milliseconds>(60s, milliseconds(1000LL << (failures - 1)));
    EXPECT_EQ(mid->backoffDelay(failures), nominal) << failures;
    EXPECT_EQ(low->backoffDelay(failures), nominal * 8 / 10) << failures;
    milliseconds hi = high->backoffDelay(failures);
    EXPECT_LE(hi, nominal * 12 / 10) << failures;
    EXPECT_GE(hi, nominal * 12 / 10 - 1ms) << failures;
  }
  std::mt19937_64 rng(42);
  auto random = makeManager([&] { return std::uniform_real_distribution<double>(0, 1)(rng); });
  for (int i = 0; i < 1000; ++i) {
    milliseconds d = random->backoffDelay(1 + i % 10);
    milliseconds nominal = std::min<milliseconds>(60s, milliseconds(1000LL << (i % 10)));
    EXPECT_GE(d, nominal * 8 / 10);
    EXPECT_LE(d, nominal * 12 / 10);
  }
}

TEST_F(CertManagerTest, KeepsValidCertificateWhileRetrying) {
  auto mgr = makeManager([] { return 0.0; });  // lower jitter bound: delays are exact
  mgr->track(id_);
  poll();
  fetcher_->succeed(*ca_);
  poll();
  auto good = mgr->current(id_);
  ASSERT_NE(good, nullptr);

  fire();  // refresh due
  const milliseconds expected[] = {800ms,   1600ms,  3200ms,  6400ms,
                                   12800ms, 25600ms, 48000ms, 48000ms};
  for (milliseconds want : expected) {
    fetcher_->fail("CA unavailable");
    poll();
    EXPECT_EQ(mgr->current(id_), good);
    EXPECT_EQ(shot_->delay, want);
    fire();
  }
  EXPECT_EQ(rotations_.size(), 1u);
  fetcher_->succeed(*ca_);
  poll();
  EXPECT_NE(mgr->current(id_), good);
  EXPECT_EQ(rotations_.size(), 2u);
  fire();
  fetcher_->fail("again");  // failure count restarted after the success
  poll();
  EXPECT_EQ(shot_->delay, 800ms);
}

TEST_F(CertManagerTest, RetriesWhenFirstFetchFailsOrCaMisbehaves) {
  auto mgr = makeManager();
  mgr->track(id_);
  poll();
  fetcher_->fail("boom");
  poll();
  EXPECT_EQ(mgr->current(id_), nullptr);
  EXPECT_EQ(shot_->delay, 1s);
  fire();
  // A CA answering with a certificate for somebody else is a failure too.
  ASSERT_EQ(fetcher_->pending.size(), 1u);
  auto intruder = SpiffeId::make("cluster.local", "default", "intruder");
  ASSERT_TRUE(intruder);
  auto other = createWorkloadCsr(*intruder);
  ASSERT_TRUE(other);
  auto done = std::move(fetcher_->pending.front().done);
  fetcher_->pending.clear();
  done(ca_->sign(other->csrPem, 1h, testing::allowAll()));
  poll();
  EXPECT_EQ(mgr->current(id_), nullptr);
  EXPECT_EQ(shot_->delay, 2s);
  EXPECT_TRUE(rotations_.empty());
}

TEST_F(CertManagerTest, UntrackDropsCertificateAndLateResults) {
  auto mgr = makeManager();
  mgr->track(id_);
  poll();
  fetcher_->succeed(*ca_);
  poll();
  ASSERT_NE(mgr->current(id_), nullptr);
  fire();
  mgr->untrack(id_);
  poll();
  EXPECT_EQ(mgr->current(id_), nullptr);
  EXPECT_FALSE(shot_->armed);
  fetcher_->succeed(*ca_);  // the in-flight refresh completes after untrack
  poll();
  EXPECT_EQ(mgr->current(id_), nullptr);
  EXPECT_EQ(rotations_.size(), 1u);
}

}  // namespace
}  // namespace ambit::identity
