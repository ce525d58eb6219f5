#include "agent/redirection_annotator.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <nlohmann/json.hpp>

#include "common/async/spawn.h"
#include "common/kube/watch_event.h"
#include "common/log.h"

namespace ambit::agent {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

RedirectionAnnotator::RedirectionAnnotator(kube::ApiClient& client,
                                           RedirectionAnnotatorOptions options)
    : client_(client), options_(options) {}

void RedirectionAnnotator::set(const std::string& uid, const std::string& name_space,
                               const std::string& name, bool enabled) {
  if (stopped_) return;
  Pod& pod = pods_[uid];
  pod.name_space = name_space;
  pod.name = name;
  pod.desired = enabled;
  if (pod.busy || pod.applied == enabled) return;
  pod.busy = true;
  ++workers_;
  spawn(client_.executor(), work(uid), "redirection annotation");
}

void RedirectionAnnotator::forget(const std::string& uid) {
  pods_.erase(uid);
  if (auto t = timers_.find(uid); t != timers_.end()) t->second->cancel();
}

void RedirectionAnnotator::stop() {
  stopped_ = true;
  for (auto& [uid, timer] : timers_) timer->cancel();
}

std::optional<bool> RedirectionAnnotator::applied(const std::string& uid) const {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second.applied;
}

asio::awaitable<void> RedirectionAnnotator::work(std::string uid) {
  std::chrono::milliseconds backoff = options_.initial_backoff;
  for (;;) {
    auto it = pods_.find(uid);
    if (stopped_ || it == pods_.end() || it->second.applied == it->second.desired) break;
    Pod wish = it->second;
    Outcome outcome = co_await patch(uid, wish);
    it = pods_.find(uid);  // forget() may have run meanwhile
    if (it == pods_.end()) break;
    if (outcome == Outcome::kDone) {
      it->second.applied = wish.desired;
      backoff = options_.initial_backoff;
      continue;
    }
    if (outcome == Outcome::kGone || outcome == Outcome::kDrop) {
      pods_.erase(it);  // a later set() tries again
      break;
    }
    ++stats_.retries;
    auto timer = std::make_shared<asio::steady_timer>(client_.executor(), backoff);
    timers_[uid] = timer;
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    timers_.erase(uid);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (auto it = pods_.find(uid); it != pods_.end()) it->second.busy = false;
  --workers_;
}

asio::awaitable<RedirectionAnnotator::Outcome> RedirectionAnnotator::patch(const std::string& uid,
                                                                           const Pod& pod) {
  json annotations = json::object();
  annotations[kRedirectionAnnotation] = pod.desired ? json("enabled") : json(nullptr);
  std::string body = json{{"metadata", {{"uid", uid}, {"annotations", annotations}}}}.dump();
  auto enc = [](const std::string& v) {
    return boost::urls::encode(v, boost::urls::unreserved_chars);
  };
  std::string target =
      fmt::format("/api/v1/namespaces/{}/pods/{}/status", enc(pod.name_space), enc(pod.name));
  std::string what = fmt::format("pod {}/{}: {} annotation {}", pod.name_space, pod.name,
                                 pod.desired ? "write" : "remove", kRedirectionAnnotation);
  auto r =
      co_await client_.request(http::verb::patch, target, body, "application/merge-patch+json");
  if (!r) {
    stats_.last_error = fmt::format("{}: {}", what, r.error().message);
    logWarn("{} (retrying)", stats_.last_error);
    co_return Outcome::kRetry;
  }
  unsigned status = r->status;
  if (status >= 200 && status < 300) {
    ++stats_.patched;
    logInfo("{}: done", what);
    co_return Outcome::kDone;
  }
  if (status == 404) {
    ++stats_.gone;
    co_return Outcome::kGone;
  }
  auto st = kube::parseStatus(r->body);
  stats_.last_error = fmt::format("{}: HTTP {} {}", what, status, st.message);
  if (status == 409 || status == 429 || status >= 500) {
    logWarn("{} (retrying)", stats_.last_error);
    co_return Outcome::kRetry;
  }
  ++stats_.dropped;
  logWarn("{} (not retried)", stats_.last_error);
  co_return Outcome::kDrop;
}

}  // namespace ambit::agent
