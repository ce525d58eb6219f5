#include "cli/lab/kube_api.h"

#include <optional>

#include "common/async/spawn.h"
#include "common/kube/base64.h"

namespace ambit::lab {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

KubeApi::KubeApi(kube::RestConfig config)
    : config_(std::move(config)),
      client_(std::make_unique<kube::ApiClient>(io_.get_executor(),
                                                std::make_shared<kube::Credentials>(config_))) {}

Result<std::unique_ptr<KubeApi>> KubeApi::open(const std::string& kubeconfig) {
  auto cfg = kube::loadKubeconfig(kubeconfig);
  if (!cfg) return cfg.error().context("--kubeconfig");
  return std::unique_ptr<KubeApi>(new KubeApi(std::move(*cfg)));
}

Result<kube::ApiResponse> KubeApi::call(http::verb verb, const std::string& target,
                                        const json& body, const std::string& content_type) {
  std::optional<Result<kube::ApiResponse>> got;
  std::string text = body.is_null() ? std::string() : body.dump();
  spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        got = co_await client_->request(verb, target, text, content_type);
      },
      "lab api call");
  io_.restart();
  io_.run();
  if (!got) return makeError("{} {}: no answer", http::to_string(verb), target);
  return std::move(*got);
}

Result<json> KubeApi::create(const std::string& collection, const json& body) {
  auto r = call(http::verb::post, collection, body);
  AMBIT_TRY(r);
  if (r->status == 409) {
    std::string name = body["metadata"].value("name", "");
    return get(collection + "/" + name);
  }
  if (r->status != 201 && r->status != 200) {
    return makeError("POST {}: HTTP {}: {}", collection, r->status, r->body);
  }
  return json::parse(r->body);
}

Result<json> KubeApi::get(const std::string& target) {
  auto r = call(http::verb::get, target);
  AMBIT_TRY(r);
  if (r->status == 404) return json();
  if (r->status != 200) return makeError("GET {}: HTTP {}: {}", target, r->status, r->body);
  return json::parse(r->body);
}

Status KubeApi::patch(const std::string& target, const json& body) {
  auto r = call(http::verb::patch, target, body, "application/strategic-merge-patch+json");
  AMBIT_TRY(r);
  if (r->status != 200) return makeError("PATCH {}: HTTP {}: {}", target, r->status, r->body);
  return Status::ok();
}

std::string renderKubeconfig(const std::string& server, const std::string& ca_pem,
                             const std::string& token_file) {
  json user = {{"tokenFile", token_file}};
  // JSON is YAML: every kubeconfig reader accepts it.
  json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters",
       {{{"name", "lab"},
         {"cluster",
          {{"server", server}, {"certificate-authority-data", kube::base64Encode(ca_pem)}}}}}},
      {"users", {{{"name", "lab"}, {"user", user}}}},
      {"contexts", {{{"name", "lab"}, {"context", {{"cluster", "lab"}, {"user", "lab"}}}}}},
      {"current-context", "lab"}};
  return config.dump(2) + "\n";
}

}  // namespace ambit::lab
