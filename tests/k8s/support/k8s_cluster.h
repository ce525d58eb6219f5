#pragma once
// For C++ tests against a real kube-apiserver + etcd (tests/k8s/cluster/cluster.py): one cluster
// per test suite (started in SetUpTestSuite, removed in TearDownTestSuite, and by the harness's
// watchdog if the test process dies), and a fixture that makes API calls on the test's own
// io_context. Suites skip loudly when the Kubernetes binaries are not built.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/kube/api_client.h"
#include "common/kube/rest_config.h"
#include "common/kube/watch_event.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ambit::test {

// tests/k8s/cluster/cluster.py <args>; stdout and stderr come with the result.
CommandOutput clusterHarness(const std::string& args);

// A service-account JWT for ns/sa (audience `ambit`) signed with the cluster's own signing key
// (<root>/pki/sa.key) but expired an hour ago: what a stale projected token looks like.
// "" (and a test failure) when the key cannot be read.
std::string expiredToken(const std::string& root, const std::string& ns, const std::string& sa);

class KubeClusterTest : public ::testing::Test {
 protected:
  // Starts the suite's cluster; call from SetUpTestSuite.
  static void startCluster(const std::string& name);
  static void stopCluster();
  static const std::string& clusterRoot() { return root_; }

  // Skips loudly when the cluster is missing; builds client_ from the admin kubeconfig.
  void SetUp() override;

  // Runs the loop until pred() or the limit.
  template <typename Pred>
  bool runUntil(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline)
      io_.run_one_for(std::chrono::milliseconds(20));
    return pred();
  }
  // One API call as cluster admin, to completion; fails the test on a transport error.
  kube::ApiResponse call(boost::beast::http::verb verb, const std::string& target,
                         const nlohmann::json& body = nullptr,
                         const std::string& content_type = "application/json") {
    return call(*client_, verb, target, body, content_type);
  }
  // The same through another client (e.g. one holding a service account's token).
  kube::ApiResponse call(kube::ApiClient& client, boost::beast::http::verb verb,
                         const std::string& target, const nlohmann::json& body = nullptr,
                         const std::string& content_type = "application/json");
  void createNamespace(const std::string& ns);
  // A TokenRequest token for ns/sa (created if missing); `bound_pod` binds it to that pod.
  std::string token(const std::string& ns, const std::string& sa, const std::string& audience,
                    const std::string& bound_pod = "");

  static inline std::optional<std::string> missing_;  // why the suite cannot run
  static inline std::unique_ptr<TempDir> scratch_;    // holds the cluster's root
  static inline std::string root_;
  boost::asio::io_context io_;
  // Keeps io_ from stopping between calls when it briefly has nothing to do.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  kube::RestConfig config_;
  std::unique_ptr<kube::ApiClient> client_;
};

}  // namespace ambit::test
