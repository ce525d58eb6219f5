#include "common/kube/reflector.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "common/log.h"

namespace ambit::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

std::string encode(std::string_view v) {
  return boost::urls::encode(v, boost::urls::unreserved_chars);
}

// The minimal object a relist-detected delete carries: name and namespace from the key.
json keyObject(const std::string& key) {
  json meta = json::object();
  auto slash = key.find('/');
  if (slash == std::string::npos) {
    meta["name"] = key;
  } else {
    meta["namespace"] = key.substr(0, slash);
    meta["name"] = key.substr(slash + 1);
  }
  return json{{"metadata", meta}};
}

}  // namespace

Reflector::Reflector(ApiClient& client, ResourceType type, ReflectorHandler& handler,
                     ReflectorOptions options)
    : client_(client),
      type_(std::move(type)),
      handler_(handler),
      options_(std::move(options)),
      rng_(options_.seed),
      timer_(client.executor()) {}

std::string Reflector::query(bool watch) const {
  std::string q;
  auto add = [&](std::string_view k, std::string_view v) {
    q += q.empty() ? '?' : '&';
    q += k;
    q += '=';
    q += encode(v);
  };
  if (!options_.label_selector.empty()) add("labelSelector", options_.label_selector);
  if (!options_.field_selector.empty()) add("fieldSelector", options_.field_selector);
  if (watch) {
    add("watch", "true");
    add("allowWatchBookmarks", "true");
    add("resourceVersion", resource_version_);
  }
  return q;
}

std::chrono::milliseconds Reflector::nextBackoff() {
  backoff_ = backoff_.count() == 0 ? options_.initial_backoff
                                   : std::min(backoff_ * 2, options_.max_backoff);
  // Full jitter over [backoff/2, backoff]: many agents restarting together spread out.
  std::uniform_int_distribution<int64_t> d(backoff_.count() / 2, backoff_.count());
  return std::chrono::milliseconds(d(rng_));
}

void Reflector::fail(std::string what) {
  ++stats_.failures;
  if (what != stats_.last_error) logWarn("kube: {}: {}", type_.qualifiedName(), what);
  stats_.last_error = std::move(what);
}

asio::awaitable<void> Reflector::sleep(std::chrono::milliseconds d) {
  timer_.expires_after(d);
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Status> Reflector::list() {
  std::map<std::string, std::string> seen;
  std::string cont, rv;
  const std::string base = type_.collectionPath(options_.name_space) + query(false);
  const char sep = base.find('?') == std::string::npos ? '?' : '&';
  for (;;) {
    std::string target = fmt::format("{}{}limit={}", base, sep, options_.page_size);
    if (!cont.empty()) target += "&continue=" + encode(cont);
    auto resp = co_await client_.request(http::verb::get, target);
    if (!resp) co_return resp.error();
    if (resp->status == 410 && !cont.empty()) {
      // The continue token expired (etcd compacted meanwhile): start the list again.
      logInfo("kube: {}: list continue token expired, listing again", type_.qualifiedName());
      seen.clear();
      cont.clear();
      continue;
    }
    if (resp->status != 200) {
      ApiStatus s = parseStatus(resp->body);
      Error e = makeError("list {}: HTTP {} {}: {}", target, resp->status, s.reason, s.message);
      if (resp->status == 404) e.code = ENOENT;  // the type is not served (CRD not installed)
      co_return e;
    }
    json page = json::parse(resp->body, nullptr, false);
    if (!page.is_object() || !page.contains("items") || !page["items"].is_array())
      co_return makeError("list {}: answer is not a list", target);
    for (auto& item : page["items"]) {
      std::string key = objectKey(item);
      if (key.empty()) continue;
      std::string irv = resourceVersionOf(item);
      auto old = known_.find(key);
      if (old == known_.end() || old->second != irv) handler_.onUpsert(type_, item);
      seen[key] = std::move(irv);
    }
    const json& meta = page.value("metadata", json::object());
    cont = meta.is_object() ? meta.value("continue", std::string()) : std::string();
    if (cont.empty()) {
      rv = meta.is_object() ? meta.value("resourceVersion", std::string()) : std::string();
      break;
    }
  }
  if (rv.empty()) co_return makeError("list {}: no resourceVersion", type_.qualifiedName());
  for (const auto& [key, old_rv] : known_) {
    if (!seen.contains(key)) handler_.onDelete(type_, keyObject(key));
  }
  known_ = std::move(seen);
  resource_version_ = std::move(rv);
  ++stats_.lists;
  handler_.onSynced(type_);
  co_return Status::ok();
}

Status Reflector::applyEvent(const WatchEvent& ev) {
  resource_version_ = ev.resource_version;
  switch (ev.type) {
    case WatchEvent::Type::kBookmark:
      ++stats_.bookmarks;
      return Status::ok();
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified:
      known_[ev.key] = ev.resource_version;
      handler_.onUpsert(type_, ev.object);
      break;
    case WatchEvent::Type::kDeleted:
      known_.erase(ev.key);
      handler_.onDelete(type_, ev.object);
      break;
    case WatchEvent::Type::kError:
      break;
  }
  ++stats_.events;
  return Status::ok();
}

asio::awaitable<Reflector::WatchEnd> Reflector::watchOnce() {
  std::uniform_int_distribution<int64_t> d(options_.min_watch_timeout.count(),
                                           2 * options_.min_watch_timeout.count() - 1);
  const int64_t timeout = d(rng_);
  std::string target = type_.collectionPath(options_.name_space) + query(true) +
                       fmt::format("&timeoutSeconds={}", timeout);
  ++stats_.watches;
  auto start = co_await client_.watch(target);
  if (stopped_) co_return WatchEnd::kTimeout;
  if (!start) {
    fail(start.error().message);
    co_return WatchEnd::kFailed;
  }
  if (start->status != 200) {
    ApiStatus s = parseStatus(start->body);
    if (start->status == 410) co_return WatchEnd::kExpired;
    fail(fmt::format("watch: HTTP {} {}: {}", start->status, s.reason, s.message));
    co_return WatchEnd::kFailed;
  }
  auto stream = std::move(start->stream);
  active_ = stream.get();
  struct Clear {
    WatchStream*& p;
    ~Clear() { p = nullptr; }
  } clear{active_};
  // The server ends the watch after `timeout`; allow a margin before calling it dead.
  const auto idle = std::chrono::seconds(timeout + 30);
  while (!stopped_) {
    auto line = co_await stream->nextLine(idle);
    if (stopped_) break;
    if (!line) {
      fail("watch: " + line.error().message);
      co_return WatchEnd::kFailed;
    }
    if (!*line) co_return WatchEnd::kTimeout;
    auto ev = decodeWatchEvent(**line);
    if (!ev) {
      fail("watch: " + ev.error().message);
      co_return WatchEnd::kFailed;
    }
    if (ev->type == WatchEvent::Type::kError) {
      ApiStatus s = parseStatus(ev->object.dump());
      if (s.code == 410) co_return WatchEnd::kExpired;
      fail(fmt::format("watch ERROR event {} {}: {}", s.code, s.reason, s.message));
      co_return WatchEnd::kFailed;
    }
    (void)applyEvent(*ev);
    backoff_ = std::chrono::milliseconds(0);  // a working watch resets the backoff
  }
  co_return WatchEnd::kTimeout;
}

asio::awaitable<void> Reflector::run() {
  bool need_list = true;
  while (!stopped_) {
    if (need_list) {
      auto st = co_await list();
      if (stopped_) break;
      stats_.not_served = !st && st.error().code == ENOENT;
      if (!st) {
        fail(st.message());
        co_await sleep(nextBackoff());
        continue;
      }
      need_list = false;
      backoff_ = std::chrono::milliseconds(0);
    }
    switch (co_await watchOnce()) {
      case WatchEnd::kTimeout:
        break;
      case WatchEnd::kExpired:
        ++stats_.relists_410;
        logInfo("kube: {}: resourceVersion {} is too old; relisting", type_.qualifiedName(),
                resource_version_);
        need_list = true;
        break;
      case WatchEnd::kFailed:
        if (!stopped_) co_await sleep(nextBackoff());
        break;
    }
  }
}

void Reflector::stop() {
  stopped_ = true;
  timer_.cancel();
  if (active_) active_->close();
}

}  // namespace ambit::kube
