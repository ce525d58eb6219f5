#pragma once
// Remote JSON Web Key Sets (RequestAuthentication jwksUri): fetched over HTTP or HTTPS (system
// trust store, host name checked), cached per URI, refreshed every refresh_interval (Istio's
// default: 20 minutes) and retried with exponential backoff after a failure. A failed refresh
// keeps the last good keys; a URI with no good keys yet has none (callers fail closed).
// Responses are bounded in size and time; every failure is logged with the
// RequestAuthentication that asked for the URI.
//
// Thread model: one JwksCache per data thread; use it from its executor only.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/status.h"
#include "waypoint/jwt.h"

namespace ambit::waypoint {

struct JwksFetchOptions {
  std::chrono::milliseconds refresh_interval{std::chrono::minutes(20)};
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // one fetch, connect to body
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(2)};
  size_t max_bytes = 1u << 20;
};

// GETs `uri` ("http://host[:port]/path" or "https://...") and returns the body of a 200.
boost::asio::awaitable<Result<std::string>> fetchUri(boost::asio::any_io_executor executor,
                                                     std::string uri,
                                                     const JwksFetchOptions& options);

class JwksCache {
 public:
  JwksCache(boost::asio::any_io_executor executor, JwksFetchOptions options);
  ~JwksCache();
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  // The keys of `uri`. The first call for a URI starts fetching and refreshing it and waits
  // (at most one fetch timeout) for the first attempt. Null while no fetch has succeeded.
  // `owner` ("RequestAuthentication ns/name") names the URI's user in log lines.
  boost::asio::awaitable<std::shared_ptr<const jwt::Jwks>> get(const std::string& uri,
                                                               const std::string& owner);
  // The latest fetch error of `uri` (empty after a success or before the first attempt).
  std::string lastError(const std::string& uri) const;
  // Stops refreshing (and forgets) every URI not in `uris` (after a configuration change).
  void retainOnly(const std::set<std::string>& uris);

  struct Entry;

 private:
  boost::asio::any_io_executor executor_;
  JwksFetchOptions options_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
};

}  // namespace ambit::waypoint
