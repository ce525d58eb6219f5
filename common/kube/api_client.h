#pragma once
// ApiClient: HTTP/1.1 over TLS to the Kubernetes API server (Boost.Beast), authenticated by a
// client certificate or a bearer token from Credentials. Two shapes of call:
//   request(): one request, the whole response body (lists, gets, writes, TokenReview);
//   watch():   a streaming GET (?watch=true) read one line (one watch event) at a time.
// A 401 re-reads the credentials (a projected token may have rotated) and retries once.
// Every error names the request ("GET /api/v1/pods: ...").
//
// Thread model: coroutines on the executor given at construction; one ApiClient may run many
// requests concurrently (each on its own connection). Credentials is shared and thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/kube/rest_config.h"
#include "common/status.h"

namespace ambit::kube {

struct ApiClientOptions {
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  size_t max_response_bytes = 256u << 20;  // a 10k-pod list page stays far below
  size_t max_event_bytes = 16u << 20;      // one watch event (one line)
  std::string user_agent = "ambit";
};

struct ApiResponse {
  unsigned status = 0;
  std::string body;
};

class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // The next event line (without the newline). nullopt: the server ended the watch normally
  // (its timeoutSeconds passed). `idle` bounds the wait for one line.
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> nextLine(
      std::chrono::milliseconds idle) = 0;
  // Ends the watch from any coroutine on the client's executor; nextLine() then fails.
  virtual void close() = 0;
};

// A watch that did not start: the API server answered with `status` (e.g. 410 Gone) and a
// Status object in `body`; or it started and `stream` reads it.
struct WatchStart {
  unsigned status = 0;
  std::string body;
  std::unique_ptr<WatchStream> stream;
};

class ApiClient {
 public:
  ApiClient(boost::asio::any_io_executor executor, std::shared_ptr<Credentials> credentials,
            ApiClientOptions options = {});

  boost::asio::awaitable<Result<ApiResponse>> request(
      boost::beast::http::verb method, std::string target, std::string body = {},
      std::string content_type = "application/json");
  boost::asio::awaitable<Result<WatchStart>> watch(std::string target);

  const RestConfig& config() const { return credentials_->config(); }
  boost::asio::any_io_executor executor() const { return executor_; }

  struct Connection;  // one TLS connection (implementation detail)

 private:
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const std::string& what);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<Credentials> credentials_;
  ApiClientOptions options_;
};

}  // namespace ambit::kube
