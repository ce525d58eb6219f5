#pragma once
// Who is calling ambit-control: a Kubernetes TokenReview of the caller's bearer token (a projected
// service-account token with ambit's audience), as the API server answers it. A pod-bound token
// also names the pod and its node (user.extra authentication.kubernetes.io/pod-name, pod-uid,
// node-name), which is what lets the CA apply the node-impersonation rule.
//
// Thread model: review() is a coroutine on the ApiClient's executor. Accepted reviews are cached
// per token for a short time (bounded) so a reconnecting fleet does not flood the API server;
// refusals are never cached.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/kube/api_client.h"
#include "common/status.h"

namespace ambit::control {

struct Principal {
  std::string ns;               // the service account's namespace
  std::string service_account;  // its name
  std::string pod_name;         // empty unless the token is bound to a pod
  std::string pod_uid;
  std::string node;  // empty unless the API server reported the bound pod's node

  // "ns/sa"
  std::string identity() const { return ns + "/" + service_account; }
};

// Reads an answered TokenReview (the API server's response body). Refusals name the reason the
// API server gave ("token has expired", "audiences ... invalid") or what is missing. Error code
// identity::kUnauthenticated for a token that was reviewed and refused.
Result<Principal> parseTokenReview(const nlohmann::json& review, const std::string& audience);

class TokenReviewer {
 public:
  TokenReviewer(kube::ApiClient& api, std::string audience,
                std::chrono::seconds cache_ttl = std::chrono::seconds(60));

  // kUnauthenticated: the token was refused; EAGAIN: the API server could not be asked.
  boost::asio::awaitable<Result<Principal>> review(std::string token);

  const std::string& audience() const { return audience_; }

 private:
  struct Cached {
    Principal principal;
    std::chrono::steady_clock::time_point expires;
  };

  kube::ApiClient& api_;
  std::string audience_;
  std::chrono::seconds cache_ttl_;
  std::map<std::string, Cached> cache_;  // by token
};

}  // namespace ambit::control
