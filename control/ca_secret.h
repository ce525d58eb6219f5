#pragma once
// ambit-control's CA key material lives in a Secret, so every replica signs with the same root
// and a restart keeps it:
//   1. a user-provided plug-in Secret (default `cacerts`, Istio's name and keys: ca-cert.pem,
//      ca-key.pem, root-cert.pem, cert-chain.pem) wins when it exists;
//   2. otherwise ambit's own Secret (default `ambit-ca`, same keys), created with a new
//      self-signed root when absent. Two replicas starting together both try to create it: the
//      loser gets 409 AlreadyExists and loads the winner's, so there is only ever one root.
// A Secret that exists but is incomplete or wrong is an error naming the Secret and key: the CA
// never replaces a root silently, because every workload trusts it.

#include <boost/asio/awaitable.hpp>
#include <cerrno>
#include <memory>
#include <string>

#include "common/identity/ca.h"
#include "common/kube/api_client.h"
#include "common/status.h"

namespace ambit::control {

struct CaSecretOptions {
  std::string ns = "ambit-system";
  std::string plugin_secret = "cacerts";
  std::string secret = "ambit-ca";
  identity::EmbeddedCaOptions ca;  // trust domain, leaf TTL cap (stateDir unused)
};

struct LoadedCa {
  std::shared_ptr<identity::EmbeddedCa> ca;
  std::string origin;  // "Secret ambit-system/ambit-ca"
  bool created = false;
};

// Error code of a Secret whose content is wrong (anything else may be transient: retry).
inline constexpr int kBadCaSecret = EINVAL;

boost::asio::awaitable<Result<LoadedCa>> loadOrCreateCa(kube::ApiClient& api,
                                                        const CaSecretOptions& options);

}  // namespace ambit::control
