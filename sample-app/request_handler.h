#pragma once
// What the sample app answers; no I/O, so it is unit-testable.
//   any path     200 {"pod", "version", "method", "path", "peer", "headers": {name: value}}
//   /status/<c>  that status code (200..599; 204 and 304 without body) with the same JSON body
//   /delay/<ms>  the same JSON after <ms> milliseconds (at most 60000)
//   /flaky       503 on every other request (1st ok, 2nd 503, ...)
//   /bytes/<n>   n bytes of 'x' (at most 64 MiB), application/octet-stream
// Thread-safe: handle() may run on several threads at once.

#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string>

namespace ambit::sample {

namespace http = boost::beast::http;

struct AppIdentity {
  std::string pod;
  std::string version;
};

struct Reply {
  http::response<http::string_body> response;
  std::chrono::milliseconds delay{0};  // wait this long before sending
};

class RequestHandler {
 public:
  explicit RequestHandler(AppIdentity id) : id_(std::move(id)) {}

  // peer: "ip:port" of the client as the app sees it.
  Reply handle(const http::request<http::string_body>& req, const std::string& peer);

 private:
  std::string echoBody(const http::request<http::string_body>& req, const std::string& peer) const;

  AppIdentity id_;
  std::atomic<uint64_t> flaky_count_{0};
};

}  // namespace ambit::sample
