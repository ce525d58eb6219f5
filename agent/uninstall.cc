#include "agent/uninstall.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/async/spawn.h"
#include "common/kube/api_client.h"
#include "common/kube/rest_config.h"

namespace ambit::agent {

Result<bool> daemonSetGone(const std::string& kubeconfig, const std::string& ns_name) {
  const size_t slash = ns_name.find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == ns_name.size())
    return makeError("--daemonset '{}': expected NAMESPACE/NAME", ns_name);
  auto rest = kubeconfig.empty() ? kube::inClusterConfig() : kube::loadKubeconfig(kubeconfig);
  AMBIT_TRY(rest);
  const std::string target = fmt::format("/apis/apps/v1/namespaces/{}/daemonsets/{}",
                                         ns_name.substr(0, slash), ns_name.substr(slash + 1));
  boost::asio::io_context io;
  kube::ApiClient api(io.get_executor(), std::make_shared<kube::Credentials>(*rest),
                      {.request_timeout = std::chrono::seconds(5)});
  std::optional<Result<kube::ApiResponse>> response;
  spawn(
      io,
      [&api, &target, &response]() -> boost::asio::awaitable<void> {
        response = co_await api.request(boost::beast::http::verb::get, target);
      },
      "uninstall check");
  io.run();
  if (!response) return makeError("GET {}: no answer", target);
  AMBIT_TRY(*response);
  const kube::ApiResponse& r = **response;
  // 401/403: `helm uninstall` deletes the agent's ServiceAccount and RBAC in the same step as
  // the DaemonSet, before the kubelet stops this pod; nothing is left to adopt the capture.
  if (r.status == 404 || r.status == 401 || r.status == 403) return true;
  if (r.status != 200) return makeError("GET {}: HTTP {}: {}", target, r.status, r.body);
  const auto object = nlohmann::json::parse(r.body, nullptr, false);
  if (object.is_discarded()) return makeError("GET {}: the answer is not JSON", target);
  return object.value("metadata", nlohmann::json::object()).contains("deletionTimestamp");
}

}  // namespace ambit::agent
