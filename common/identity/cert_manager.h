#pragma once
// Workload certificate manager (used by the ztunnel): for each tracked SPIFFE id it keeps the
// current key + chain, fetched through a CertificateFetcher (certificate_fetcher.h).
//
// Lifecycle per identity: track() -> new P-256 key + CSR -> fetch -> publish snapshot ->
// refresh at 50% of the certificate's lifetime -> ... On a failed fetch it retries with
// jittered exponential backoff (base 1s, doubling, cap 60s, +/-20%), and KEEPS publishing the
// last good certificate while it retries.
//
// Thread model:
//  - All bookkeeping runs on `executor` (a Boost.Asio executor: the ztunnel's control
//    io_context or a strand of it, never a data worker). Public methods may be called from any
//    thread; they post onto the executor.
//  - No thread waits on the network: CaClient::fetch uses gRPC's callback API and its
//    completion is posted back onto the executor. Key generation and CSR signing (well under
//    a millisecond) run on the executor.
//  - Readers on any thread call current(): a shared_ptr copy under a tiny mutex. The snapshot
//    is immutable; keep it as long as needed (e.g. build an SSL_CTX from it).
//  - The rotation callback runs on the executor, after the new snapshot is visible.
//  - Destroy the manager on the executor's thread or after its io_context has stopped.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/identity/certificate.h"
#include "common/identity/certificate_fetcher.h"

namespace ambit::identity {

// One-shot timer whose callback runs on the manager's executor. arm() replaces a pending shot.
class RefreshTimer {
 public:
  virtual ~RefreshTimer() = default;
  virtual void arm(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  virtual void cancel() = 0;
};
using RefreshTimerFactory = std::function<std::unique_ptr<RefreshTimer>()>;

// Timers backed by boost::asio::steady_timer on executor.
RefreshTimerFactory asioRefreshTimers(boost::asio::any_io_executor executor);

struct CertificateManagerOptions {
  std::chrono::seconds requestedTtl = std::chrono::hours(24);  // the CA may shorten it
  double refreshFraction = 0.5;  // refresh when this fraction of the lifetime has passed
  std::chrono::milliseconds backoffBase = std::chrono::seconds(1);
  std::chrono::milliseconds backoffCap = std::chrono::seconds(60);
  double backoffJitter = 0.2;           // each retry delay is multiplied by 1 +/- this
  WallClock clock = systemWallClock();  // certificate validity is wall-clock time
  std::function<double()> random;       // uniform in [0,1); default: seeded std::mt19937_64
  RefreshTimerFactory timers;           // default: asioRefreshTimers(executor)
};

using RotationCallback =
    std::function<void(const SpiffeId& id, std::shared_ptr<const WorkloadCertificate> cert)>;

class CertificateManager : public std::enable_shared_from_this<CertificateManager> {
 public:
  [[nodiscard]] static std::shared_ptr<CertificateManager> create(
      boost::asio::any_io_executor executor, std::shared_ptr<CertificateFetcher> fetcher,
      CertificateManagerOptions options = {}, RotationCallback onRotate = {});
  ~CertificateManager();
  CertificateManager(const CertificateManager&) = delete;
  CertificateManager& operator=(const CertificateManager&) = delete;

  // Starts keeping a certificate for id; a no-op when already tracked. Any thread.
  void track(const SpiffeId& id);
  // Stops refreshing id and forgets its certificate. Any thread.
  void untrack(const SpiffeId& id);
  // Cancels every timer and drops in-flight results. Any thread.
  void stop();

  // The current certificate for id, or nullptr before the first successful fetch. Any thread.
  std::shared_ptr<const WorkloadCertificate> current(const SpiffeId& id) const;

  // Delay of the jittered backoff after `failures` consecutive failures (1 = first failure).
  std::chrono::milliseconds backoffDelay(int failures);
  // When a certificate valid over [notBefore, notAfter] should be refreshed.
  std::chrono::system_clock::time_point refreshTime(const WorkloadCertificate& cert) const;

 private:
  struct Entry;
  CertificateManager(boost::asio::any_io_executor executor,
                     std::shared_ptr<CertificateFetcher> fetcher, CertificateManagerOptions options,
                     RotationCallback onRotate);

  void doTrack(const SpiffeId& id);
  void doUntrack(SpiffeId id);  // by value: callers may pass a key of entries_
  void startFetch(Entry& entry);
  void onFetched(const SpiffeId& id, uint64_t generation, Result<IssuedCertificate> issued);
  Status publish(Entry& entry, IssuedCertificate issued);
  void onFailure(Entry& entry, const Error& error);
  void scheduleRefresh(Entry& entry, const WorkloadCertificate& cert);
  void setSnapshot(const SpiffeId& id, std::shared_ptr<const WorkloadCertificate> cert);

  // Where fetch completions (arriving on gRPC threads) are posted; cleared by the destructor so
  // a late completion never touches a manager or io_context that is gone.
  struct PostTarget {
    std::mutex mu;
    std::optional<boost::asio::any_io_executor> executor;
  };

  boost::asio::any_io_executor executor_;
  std::shared_ptr<PostTarget> postTarget_;
  std::shared_ptr<CertificateFetcher> fetcher_;
  CertificateManagerOptions options_;
  RotationCallback onRotate_;

  std::map<SpiffeId, std::unique_ptr<Entry>> entries_;  // executor only
  uint64_t nextGeneration_ = 1;                         // executor only

  mutable std::mutex snapshotMu_;  // guards snapshots_ only; held for a map lookup at most
  std::map<SpiffeId, std::shared_ptr<const WorkloadCertificate>> snapshots_;
};

}  // namespace ambit::identity
