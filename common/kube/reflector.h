#pragma once
// Reflector: keeps a consumer in step with one resource type on the API server, the way
// client-go's reflector does, and never loses a delete:
//   1. list (paginated with limit/continue; an expired continue token restarts the list),
//      diffed against what was delivered before: new or changed objects → onUpsert, objects
//      that vanished → onDelete, then onSynced;
//   2. watch from the list's resourceVersion with allowWatchBookmarks and a randomized
//      timeoutSeconds in [min_watch_timeout, 2 × min_watch_timeout); bookmarks and events
//      advance the resourceVersion; a watch that ends normally is reopened from it;
//   3. "too old resource version" (HTTP 410 on the watch request, or an ERROR event with code
//      410 in the stream) → relist and diff (step 1);
//   4. any other failure (connection, 5xx, 403, 404 for a CRD not installed yet, a bad event)
//      → retry after a jittered exponential backoff, logged with the reason.
// The store is only key → resourceVersion: consumers keep what they need of each object.
//
// Thread model: run() is a coroutine on the ApiClient's executor; handler calls happen there,
// one at a time. stop() must be called on that executor too. The reflector must outlive run().

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "common/kube/api_client.h"
#include "common/kube/watch_event.h"

namespace ambit::kube {

class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  // An object was added or changed (or first seen by a list).
  virtual void onUpsert(const ResourceType& type, const nlohmann::json& object) = 0;
  // An object is gone. `object` is the last state the server sent, or (when the delete was
  // found by a relist) just its metadata.name/namespace.
  virtual void onDelete(const ResourceType& type, const nlohmann::json& object) = 0;
  // A complete list has been delivered (after the first list and after every relist).
  virtual void onSynced(const ResourceType& type) = 0;
};

struct ReflectorOptions {
  size_t page_size = 500;
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::milliseconds initial_backoff{800};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  std::string label_selector;              // e.g. "app=x"
  std::string field_selector;              // e.g. "spec.nodeName=node1"
  std::string name_space;                  // only this namespace (empty: all)
  uint64_t seed = std::random_device{}();  // jitter and watch timeouts (tests fix it)
};

struct ReflectorStats {
  uint64_t lists = 0;        // complete lists (initial + relists)
  uint64_t relists_410 = 0;  // relists forced by an expired resourceVersion
  uint64_t watches = 0;      // watch requests opened
  uint64_t events = 0;       // ADDED/MODIFIED/DELETED applied
  uint64_t bookmarks = 0;
  uint64_t failures = 0;    // failed list/watch attempts
  bool not_served = false;  // the last list got 404: the API server does not serve the type
  std::string last_error;
};

class Reflector {
 public:
  Reflector(ApiClient& client, ResourceType type, ReflectorHandler& handler,
            ReflectorOptions options = {});

  // Lists and watches until stop(). Never returns early on errors (they are retried).
  boost::asio::awaitable<void> run();
  void stop();

  const ResourceType& type() const { return type_; }
  const ReflectorStats& stats() const { return stats_; }
  bool synced() const { return stats_.lists > 0; }
  const std::string& resourceVersion() const { return resource_version_; }
  size_t size() const { return known_.size(); }

 private:
  enum class WatchEnd { kTimeout, kExpired, kFailed };

  boost::asio::awaitable<Status> list();
  boost::asio::awaitable<WatchEnd> watchOnce();
  Status applyEvent(const WatchEvent& ev);
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
  std::string query(bool watch) const;
  std::chrono::milliseconds nextBackoff();
  void fail(std::string what);

  ApiClient& client_;
  ResourceType type_;
  ReflectorHandler& handler_;
  ReflectorOptions options_;
  std::mt19937_64 rng_;
  boost::asio::steady_timer timer_;
  std::map<std::string, std::string> known_;  // key -> resourceVersion delivered
  std::string resource_version_;
  std::chrono::milliseconds backoff_{0};
  WatchStream* active_ = nullptr;
  bool stopped_ = false;
  ReflectorStats stats_;
};

}  // namespace ambit::kube
