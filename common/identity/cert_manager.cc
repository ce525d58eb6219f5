#include "common/identity/cert_manager.h"

#include <fmt/chrono.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <random>

#include "common/identity/csr.h"
#include "common/log.h"

namespace ambit::identity {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

class AsioRefreshTimer final : public RefreshTimer {
 public:
  explicit AsioRefreshTimer(asio::any_io_executor ex) : timer_(std::move(ex)) {}
  void arm(milliseconds delay, std::function<void()> fn) override {
    timer_.expires_after(delay);
    timer_.async_wait([fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  }
  void cancel() override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

std::function<double()> defaultRandom() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
}

}  // namespace

RefreshTimerFactory asioRefreshTimers(asio::any_io_executor executor) {
  return [executor] { return std::make_unique<AsioRefreshTimer>(executor); };
}

struct CertificateManager::Entry {
  SpiffeId id;
  std::unique_ptr<RefreshTimer> timer;
  uint64_t generation = 0;      // of the fetch in flight; completions of older ones are dropped
  ossl::EvpPkeyPtr pendingKey;  // key of the CSR in flight
  int failures = 0;             // consecutive
};

CertificateManager::CertificateManager(asio::any_io_executor executor,
                                       std::shared_ptr<CertificateFetcher> fetcher,
                                       CertificateManagerOptions options, RotationCallback onRotate)
    : executor_(std::move(executor)),
      postTarget_(std::make_shared<PostTarget>()),
      fetcher_(std::move(fetcher)),
      options_(std::move(options)),
      onRotate_(std::move(onRotate)) {
  if (!options_.random) options_.random = defaultRandom();
  if (!options_.timers) options_.timers = asioRefreshTimers(executor_);
  if (!options_.clock) options_.clock = systemWallClock();
  postTarget_->executor = executor_;
}

CertificateManager::~CertificateManager() {
  std::lock_guard lock(postTarget_->mu);
  postTarget_->executor.reset();
}

std::shared_ptr<CertificateManager> CertificateManager::create(
    asio::any_io_executor executor, std::shared_ptr<CertificateFetcher> fetcher,
    CertificateManagerOptions options, RotationCallback onRotate) {
  return std::shared_ptr<CertificateManager>(new CertificateManager(
      std::move(executor), std::move(fetcher), std::move(options), std::move(onRotate)));
}

void CertificateManager::track(const SpiffeId& id) {
  asio::post(executor_, [weak = weak_from_this(), id] {
    if (auto self = weak.lock()) self->doTrack(id);
  });
}

void CertificateManager::untrack(const SpiffeId& id) {
  asio::post(executor_, [weak = weak_from_this(), id] {
    if (auto self = weak.lock()) self->doUntrack(id);
  });
}

void CertificateManager::stop() {
  asio::post(executor_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    while (!self->entries_.empty()) self->doUntrack(self->entries_.begin()->first);
  });
}

std::shared_ptr<const WorkloadCertificate> CertificateManager::current(const SpiffeId& id) const {
  std::lock_guard lock(snapshotMu_);
  auto it = snapshots_.find(id);
  return it == snapshots_.end() ? nullptr : it->second;
}

void CertificateManager::setSnapshot(const SpiffeId& id,
                                     std::shared_ptr<const WorkloadCertificate> cert) {
  std::lock_guard lock(snapshotMu_);
  if (cert) {
    snapshots_[id] = std::move(cert);
  } else {
    snapshots_.erase(id);
  }
}

milliseconds CertificateManager::backoffDelay(int failures) {
  double base = static_cast<double>(options_.backoffBase.count());
  double cap = static_cast<double>(options_.backoffCap.count());
  double exp = std::min(cap, base * std::pow(2.0, std::clamp(failures - 1, 0, 62)));
  double factor = 1.0 + options_.backoffJitter * (2.0 * options_.random() - 1.0);
  return milliseconds(static_cast<int64_t>(std::llround(exp * factor)));
}

std::chrono::system_clock::time_point CertificateManager::refreshTime(
    const WorkloadCertificate& cert) const {
  auto lifetime = cert.notAfter - cert.notBefore;
  return cert.notBefore + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              lifetime * options_.refreshFraction);
}

void CertificateManager::doTrack(const SpiffeId& id) {
  if (entries_.contains(id)) return;
  auto entry = std::make_unique<Entry>();
  entry->id = id;
  entry->timer = options_.timers();
  Entry& e = *entry;
  entries_.emplace(id, std::move(entry));
  startFetch(e);
}

void CertificateManager::doUntrack(SpiffeId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  it->second->timer->cancel();
  entries_.erase(it);
  setSnapshot(id, nullptr);
}

void CertificateManager::startFetch(Entry& entry) {
  auto req = createWorkloadCsr(entry.id);
  if (!req) {
    onFailure(entry, req.error());
    return;
  }
  entry.generation = nextGeneration_++;
  entry.pendingKey = std::move(req->key);
  auto onDone = [weak = weak_from_this(), target = postTarget_, id = entry.id,
                 gen = entry.generation](Result<IssuedCertificate> issued) {
    std::lock_guard lock(target->mu);
    if (!target->executor) return;  // manager destroyed
    asio::post(*target->executor, [weak, id, gen, issued = std::move(issued)]() mutable {
      if (auto self = weak.lock()) self->onFetched(id, gen, std::move(issued));
    });
  };
  fetcher_->fetch(std::move(req->csrPem), options_.requestedTtl, std::move(onDone));
}

void CertificateManager::onFetched(const SpiffeId& id, uint64_t generation,
                                   Result<IssuedCertificate> issued) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->generation != generation) return;  // stale
  Entry& entry = *it->second;
  Status published = issued ? publish(entry, std::move(*issued)) : Status(issued.error());
  if (!published) onFailure(entry, published.error());
}

Status CertificateManager::publish(Entry& entry, IssuedCertificate issued) {
  auto assembled = WorkloadCertificate::assemble(std::move(entry.pendingKey), std::move(issued));
  AMBIT_TRY(assembled);
  if (assembled->id != entry.id) {
    return makeError("CA issued a certificate for {} instead of {}", assembled->id.toString(),
                     entry.id.toString());
  }
  if (assembled->notAfter <= options_.clock()) {
    return makeError("CA issued a certificate for {} that is already expired", entry.id.toString());
  }
  auto snapshot = std::make_shared<const WorkloadCertificate>(std::move(*assembled));
  entry.failures = 0;
  setSnapshot(entry.id, snapshot);
  scheduleRefresh(entry, *snapshot);
  logInfo("certificate for {} rotated; valid until {:%FT%TZ}", entry.id.toString(),
          std::chrono::floor<std::chrono::seconds>(snapshot->notAfter));
  if (onRotate_) onRotate_(entry.id, snapshot);
  return Status::ok();
}

void CertificateManager::scheduleRefresh(Entry& entry, const WorkloadCertificate& cert) {
  auto now = options_.clock();
  auto at = refreshTime(cert);
  // CAs backdate notBefore against clock skew (ours by a minute): with a short TTL that share
  // of the validity window can be over on arrival, and refreshing at once would loop. Then
  // refresh at the same fraction of what is left.
  if (at <= now && cert.notAfter > now) {
    at = now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                   (cert.notAfter - now) * options_.refreshFraction);
  }
  auto delay = std::max(std::chrono::duration_cast<milliseconds>(at - now), milliseconds::zero());
  entry.timer->arm(delay, [weak = weak_from_this(), id = entry.id] {
    auto self = weak.lock();
    if (!self) return;
    if (auto it = self->entries_.find(id); it != self->entries_.end()) {
      self->startFetch(*it->second);
    }
  });
}

void CertificateManager::onFailure(Entry& entry, const Error& error) {
  ++entry.failures;
  entry.pendingKey.reset();
  milliseconds delay = backoffDelay(entry.failures);
  auto cur = current(entry.id);
  logWarn("certificate fetch for {} failed (attempt {}): {}; retrying in {}ms; {}",
          entry.id.toString(), entry.failures, error.message, delay.count(),
          cur ? "keeping the current certificate" : "no certificate yet");
  entry.timer->arm(delay, [weak = weak_from_this(), id = entry.id] {
    auto self = weak.lock();
    if (!self) return;
    if (auto it = self->entries_.find(id); it != self->entries_.end()) {
      self->startFetch(*it->second);
    }
  });
}

}  // namespace ambit::identity
