#pragma once
// The lab's own Kubernetes API calls in Kubernetes mode (it plays the kubelet and the cluster
// admin): blocking calls on a private io_context over common/kube's ApiClient, with the admin
// kubeconfig given to `lab up --kubeconfig`. Not thread-safe; one call at a time.

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/kube/api_client.h"
#include "common/kube/rest_config.h"
#include "common/status.h"

namespace ambit::lab {

class KubeApi {
 public:
  static Result<std::unique_ptr<KubeApi>> open(const std::string& kubeconfig);

  // One request; a transport error is an error, any HTTP status is a response.
  Result<kube::ApiResponse> call(boost::beast::http::verb verb, const std::string& target,
                                 const nlohmann::json& body = nullptr,
                                 const std::string& content_type = "application/json");
  // POST body to `collection`; an existing object (409) is fine. Returns the object as stored
  // (the existing one on 409).
  Result<nlohmann::json> create(const std::string& collection, const nlohmann::json& body);
  // GET; nullopt-like null json when 404.
  Result<nlohmann::json> get(const std::string& target);
  // Strategic-merge PATCH; fails on any status but 200.
  Status patch(const std::string& target, const nlohmann::json& body);

  const kube::RestConfig& config() const { return config_; }

 private:
  KubeApi(kube::RestConfig config);
  boost::asio::io_context io_;
  kube::RestConfig config_;
  std::unique_ptr<kube::ApiClient> client_;
};

// A kubeconfig (YAML) for a client that reaches the API server at `server` ("https://h:p")
// trusting `ca_pem`, with the bearer token in `token_file` (re-read by the client).
std::string renderKubeconfig(const std::string& server, const std::string& ca_pem,
                             const std::string& token_file);

}  // namespace ambit::lab
