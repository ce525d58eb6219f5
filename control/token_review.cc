#include "control/token_review.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/identity/signer.h"

namespace ambit::control {
namespace {

constexpr size_t kMaxCached = 10000;
constexpr std::string_view kSaPrefix = "system:serviceaccount:";

Error refused(std::string reason) {
  return Error{identity::kUnauthenticated, "token refused: " + std::move(reason)};
}

// The first value of user.extra[key], or "".
std::string extra(const nlohmann::json& user, const std::string& key) {
  auto ex = user.find("extra");
  if (ex == user.end() || !ex->is_object()) return "";
  auto it = ex->find(key);
  if (it == ex->end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return "";
  return (*it)[0].get<std::string>();
}

}  // namespace

Result<Principal> parseTokenReview(const nlohmann::json& review, const std::string& audience) {
  auto status = review.find("status");
  if (status == review.end() || !status->is_object()) {
    return makeError("TokenReview answer has no status object");
  }
  if (!status->value("authenticated", false)) {
    std::string why = status->value("error", std::string());
    return refused(why.empty() ? "the API server did not authenticate it" : why);
  }
  if (!audience.empty()) {
    auto auds = status->find("audiences");
    bool ok = auds != status->end() && auds->is_array() &&
              std::any_of(auds->begin(), auds->end(),
                          [&](const nlohmann::json& a) { return a == audience; });
    if (!ok) return refused(fmt::format("not issued for audience '{}'", audience));
  }
  auto user = status->find("user");
  if (user == status->end() || !user->is_object()) return refused("no user in the review");
  std::string username = user->value("username", std::string());
  if (!username.starts_with(kSaPrefix)) {
    return refused(fmt::format("user '{}' is not a service account", username));
  }
  std::string_view rest = std::string_view(username).substr(kSaPrefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    return refused(fmt::format("malformed service account user '{}'", username));
  }
  Principal p;
  p.ns = std::string(rest.substr(0, colon));
  p.service_account = std::string(rest.substr(colon + 1));
  p.pod_name = extra(*user, "authentication.kubernetes.io/pod-name");
  p.pod_uid = extra(*user, "authentication.kubernetes.io/pod-uid");
  p.node = extra(*user, "authentication.kubernetes.io/node-name");
  return p;
}

TokenReviewer::TokenReviewer(kube::ApiClient& api, std::string audience,
                             std::chrono::seconds cache_ttl)
    : api_(api), audience_(std::move(audience)), cache_ttl_(cache_ttl) {}

boost::asio::awaitable<Result<Principal>> TokenReviewer::review(std::string token) {
  if (token.empty()) co_return refused("no bearer token in the call");
  const auto now = std::chrono::steady_clock::now();
  if (auto it = cache_.find(token); it != cache_.end()) {
    if (it->second.expires > now) co_return it->second.principal;
    cache_.erase(it);
  }
  nlohmann::json body = {{"apiVersion", "authentication.k8s.io/v1"},
                         {"kind", "TokenReview"},
                         {"spec", {{"token", token}}}};
  if (!audience_.empty()) body["spec"]["audiences"] = {audience_};
  auto resp = co_await api_.request(boost::beast::http::verb::post,
                                    "/apis/authentication.k8s.io/v1/tokenreviews", body.dump());
  if (!resp) co_return Error{EAGAIN, "TokenReview: " + resp.error().message};
  if (resp->status != 201 && resp->status != 200) {
    co_return Error{
        EAGAIN, fmt::format("TokenReview: HTTP {}: {}", resp->status, resp->body.substr(0, 300))};
  }
  auto json = nlohmann::json::parse(resp->body, nullptr, false);
  if (json.is_discarded()) co_return Error{EAGAIN, "TokenReview: the answer is not JSON"};
  auto principal = parseTokenReview(json, audience_);
  if (principal) {
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[token] = Cached{*principal, now + cache_ttl_};
  }
  co_return principal;
}

}  // namespace ambit::control
