#pragma once
// Who may talk to ambit-control, for its two gRPC services on one port:
//   - discovery streams (discovery::Authenticator): the caller's bearer token is reviewed
//     (TokenReview, audience `ambit`); the node agent's service account and the service account
//     of a waypoint (a Gateway of the waypoint class named like it, in its namespace) are let
//     in, anyone else is refused with the reason;
//   - certificate requests (identity::CallAuthorizer): the token is reviewed the same way, then
//     node_identities.h's rule decides which identities the caller may obtain.
// TokenReviewer lives on the kube thread: gRPC threads post the review there and wait for the
// answer (bounded), so no Kubernetes client state is shared across threads.
//
// Thread-safety: every method may be called from any thread. WaypointIdentities is updated by
// the kube thread and read by gRPC threads.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/discovery/authenticator.h"
#include "common/identity/ca_service.h"
#include "control/node_identities.h"
#include "control/token_review.h"

namespace ambit::control {

// "ns/name" of every waypoint Gateway (its pods run as service account `name`).
class WaypointIdentities {
 public:
  void set(const std::string& ns, const std::string& name, bool present);
  bool has(const std::string& ns, const std::string& service_account) const;

 private:
  mutable std::mutex mu_;
  std::set<std::string> ids_;
};

struct CallerStats {
  std::atomic<uint64_t> streams_allowed{0}, streams_refused{0};
  std::atomic<uint64_t> csr_allowed{0}, csr_refused{0};
};

class CallerAuth final : public discovery::Authenticator {
 public:
  CallerAuth(boost::asio::io_context& kube_io, TokenReviewer& reviewer, const NodeIdentities& pods,
             const WaypointIdentities& waypoints, CsrRules rules,
             std::chrono::milliseconds review_timeout = std::chrono::seconds(10));

  // discovery::Authenticator
  void authenticate(const discovery::CallerInfo& caller, Done done) override;
  // For identity::CertificateServiceImpl. Blocks the calling gRPC thread for the review.
  identity::CallAuthorizer csrAuthorizer();

  const CallerStats& stats() const { return stats_; }

 private:
  // Reviews `token` on the kube thread; `done` runs there.
  void review(std::string token, std::function<void(Result<Principal>)> done);
  Status mayDiscover(const Principal& p) const;

  boost::asio::io_context& kube_io_;
  TokenReviewer& reviewer_;
  const NodeIdentities& pods_;
  const WaypointIdentities& waypoints_;
  CsrRules rules_;
  std::chrono::milliseconds review_timeout_;
  CallerStats stats_;
};

}  // namespace ambit::control
