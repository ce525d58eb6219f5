#include "sample-app/request_handler.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

namespace ambit::sample {
namespace {

constexpr uint64_t kMaxBytes = 64ull << 20;
constexpr uint64_t kMaxDelayMs = 60000;

// The number after `prefix` in path (query string ignored), if path starts with prefix.
std::optional<uint64_t> numberAfter(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  rest = rest.substr(0, rest.find('?'));
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || end != rest.data() + rest.size() || rest.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string RequestHandler::echoBody(const http::request<http::string_body>& req,
                                     const std::string& peer) const {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& field : req) {
    std::string name(field.name_string());
    std::string value(field.value());
    if (headers.contains(name)) {
      headers[name] = headers[name].get<std::string>() + ", " + value;
    } else {
      headers[name] = value;
    }
  }
  nlohmann::json body = {{"pod", id_.pod},
                         {"version", id_.version},
                         {"method", std::string(req.method_string())},
                         {"path", std::string(req.target())},
                         {"peer", peer},
                         {"headers", headers}};
  // Header bytes need not be UTF-8; replace invalid sequences instead of throwing (which would
  // take the whole app down on one odd request).
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Reply RequestHandler::handle(const http::request<http::string_body>& req, const std::string& peer) {
  Reply r;
  auto& res = r.response;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "ambit-sample-app");
  std::string_view path(req.target().data(), req.target().size());
  res.result(http::status::ok);
  res.set(http::field::content_type, "application/json");

  if (auto n = numberAfter(path, "/bytes/")) {
    if (*n > kMaxBytes) {
      res.result(http::status::bad_request);
      res.body() = "{\"error\": \"at most 67108864 bytes\"}\n";
    } else {
      res.set(http::field::content_type, "application/octet-stream");
      res.body().assign(*n, 'x');
    }
  } else if (path.substr(0, 8) == "/status/") {
    auto code = numberAfter(path, "/status/");
    if (code && *code >= 200 && *code <= 599) {
      res.result(static_cast<unsigned>(*code));
    } else {
      res.result(http::status::bad_request);
    }
    // 204 and 304 must not carry a body (RFC 9110 §15.3.5, §15.4.5).
    if (res.result_int() != 204 && res.result_int() != 304) res.body() = echoBody(req, peer);
  } else if (path.substr(0, 7) == "/delay/") {
    auto ms = numberAfter(path, "/delay/");
    if (ms && *ms <= kMaxDelayMs) {
      r.delay = std::chrono::milliseconds(*ms);
    } else {
      res.result(http::status::bad_request);
    }
    res.body() = echoBody(req, peer);
  } else {
    if (path.substr(0, path.find('?')) == "/flaky" && flaky_count_.fetch_add(1) % 2 == 1) {
      res.result(http::status::service_unavailable);
    }
    res.body() = echoBody(req, peer);
  }
  res.prepare_payload();
  return r;
}

}  // namespace ambit::sample
