#include "waypoint/span_exporter.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <optional>
#include <vector>

#include "common/async/spawn.h"
#include "common/log.h"

namespace ambit::waypoint {
namespace {

// "host:port" / "[v6]:port" / "host" into host and port (`default_port` when there is none).
Result<std::pair<std::string, uint16_t>> splitHostPort(std::string_view authority,
                                                       std::optional<uint16_t> default_port) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return makeError("'{}': unclosed '['", authority);
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return makeError("'{}': expected ':' after ']'", authority);
    }
    if (!rest.empty()) port = rest.substr(1);
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return makeError("'{}': no host", authority);
  if (port.empty()) {
    if (!default_port) return makeError("'{}': no port (expected host:port)", authority);
    return std::pair{std::string(host), *default_port};
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return makeError("'{}': port '{}' is not a number from 1 to 65535", authority, port);
  }
  return std::pair{std::string(host), static_cast<uint16_t>(value)};
}

std::string hostHeader(const TraceCollector& c) {
  const bool v6 = c.host.find(':') != std::string::npos;
  return (v6 ? "[" + c.host + "]" : c.host) + ":" + std::to_string(c.port);
}

}  // namespace

Result<TraceCollector> zipkinCollector(std::string_view address) {
  auto hp = splitHostPort(address, std::nullopt);
  if (!hp) return hp.error();
  return TraceCollector{SpanFormat::kZipkinV2, hp->first, hp->second, "/api/v2/spans"};
}

Result<TraceCollector> otlpCollector(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.starts_with("https://")) {
    return makeError("'{}': https is not supported; use an http:// OTLP receiver", url);
  }
  if (!url.starts_with(kScheme)) {
    return makeError("'{}': expected an OTLP/HTTP URL such as http://collector:4318/v1/traces",
                     url);
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (path.empty() || path == "/") path = "/v1/traces";
  if (path.find_first_of(" \r\n#") != std::string::npos) {
    return makeError("'{}': the path must not contain spaces, line breaks or a fragment", url);
  }
  auto hp = splitHostPort(authority, 80);
  if (!hp) return hp.error().context("--otlp-endpoint");
  return TraceCollector{SpanFormat::kOtlpJson, hp->first, hp->second, std::move(path)};
}

struct SpanExporter::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor ex, TraceCollector c, TraceResource r,
        std::chrono::milliseconds interval, size_t max)
      : executor(std::move(ex)),
        collector(std::move(c)),
        resource(std::move(r)),
        flush_interval(interval),
        max_batch(max),
        timer(executor) {}
  asio::awaitable<void> run();
  asio::awaitable<Status> post(std::string body);
  std::string encode(const std::vector<Span>& spans) const {
    return collector.format == SpanFormat::kOtlpJson ? otlpJson(spans, resource)
                                                     : zipkinJson(spans, resource.service_name);
  }
  std::string_view formatName() const {
    return collector.format == SpanFormat::kOtlpJson ? "OTLP" : "Zipkin";
  }

  asio::any_io_executor executor;
  TraceCollector collector;
  TraceResource resource;
  std::chrono::milliseconds flush_interval;
  size_t max_batch;
  asio::steady_timer timer;
  std::vector<Span> queue;
  uint64_t exported = 0;
  uint64_t dropped = 0;
  bool stopped = false;
};

asio::awaitable<Status> SpanExporter::State::post(std::string body) {
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(collector.host, std::to_string(collector.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), fmt::format("resolve {}: {}", collector.host, ec.message())};
  asio::ip::tcp::socket socket(executor);
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "connect to the collector: " + ec.message()};
  HttpRequest req{http::verb::post, collector.path, 11};
  req.set(http::field::host, hostHeader(collector));
  req.set(http::field::content_type, "application/json");
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  co_await http::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "post spans: " + ec.message()};
  boost::beast::flat_buffer buffer;
  HttpResponse resp;
  co_await http::async_read(socket, buffer, resp, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "collector response: " + ec.message()};
  if (resp.result_int() >= 300) {
    co_return makeError("collector answered HTTP {}: {}", resp.result_int(),
                        resp.body().substr(0, 200));
  }
  co_return Status::ok();
}

asio::awaitable<void> SpanExporter::State::run() {
  auto self = shared_from_this();
  while (!stopped) {
    timer.expires_after(flush_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (queue.empty()) continue;
    std::vector<Span> batch;
    batch.swap(queue);
    Status st = co_await post(encode(batch));
    if (!st) {
      dropped += batch.size();
      logWarn("tracing: dropped {} spans ({} to {}:{}{}): {}", batch.size(), formatName(),
              collector.host, collector.port, collector.path, st.message());
      continue;
    }
    exported += batch.size();
  }
}

SpanExporter::SpanExporter(asio::any_io_executor executor, TraceCollector collector,
                           TraceResource resource, std::chrono::milliseconds flush_interval,
                           size_t max_batch)
    : state_(std::make_shared<State>(std::move(executor), std::move(collector), std::move(resource),
                                     flush_interval, max_batch)) {
  spawn(state_->executor, state_->run(), "span exporter");
}

SpanExporter::~SpanExporter() {
  state_->stopped = true;
  state_->timer.cancel();
}

void SpanExporter::add(Span span) {
  if (state_->queue.size() >= state_->max_batch) {
    state_->timer.cancel();  // flush now
    if (state_->queue.size() >= 2 * state_->max_batch) {
      ++state_->dropped;
      return;
    }
  }
  state_->queue.push_back(std::move(span));
}

uint64_t SpanExporter::exported() const { return state_->exported; }
uint64_t SpanExporter::dropped() const { return state_->dropped; }

}  // namespace ambit::waypoint
