#include "waypoint/tracing.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "common/async/spawn.h"
#include "common/hbone/protocol.h"
#include "common/log.h"

namespace ambit::waypoint {
namespace {

std::string lowerHeader(const HttpRequest& r, std::string_view name) {
  auto v = r[boost::beast::string_view(name.data(), name.size())];
  std::string out(v.data(), v.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool isHex(std::string_view s, size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
         s.find_first_not_of('0') != std::string_view::npos;
}

// "00-<trace>-<span>-<flags>"
std::optional<TraceContext> fromTraceparent(const std::string& v) {
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  TraceContext ctx{v.substr(3, 32), v.substr(36, 16), v.substr(53, 2) != "00"};
  if (!isHex(ctx.trace_id, 32) || !isHex(ctx.parent_span_id, 16)) return std::nullopt;
  return ctx;
}

std::optional<TraceContext> fromB3(std::string trace, std::string span, std::string sampled) {
  if (trace.size() == 16) trace = std::string(16, '0') + trace;
  if (!isHex(trace, 32) || !isHex(span, 16)) return std::nullopt;
  return TraceContext{trace, span, sampled != "0" && sampled != "false"};
}

// "<trace>-<span>[-<sampled>[-<parent>]]"
std::optional<TraceContext> fromB3Single(const std::string& v) {
  size_t a = v.find('-');
  if (a == std::string::npos) return std::nullopt;
  size_t b = v.find('-', a + 1);
  std::string sampled = b == std::string::npos ? "1" : v.substr(b + 1, v.find('-', b + 1) - b - 1);
  return fromB3(v.substr(0, a), v.substr(a + 1, b == std::string::npos ? b : b - a - 1), sampled);
}

}  // namespace

std::optional<TraceContext> extractTrace(const HttpRequest& r) {
  if (auto w3c = fromTraceparent(lowerHeader(r, "traceparent"))) return w3c;
  if (std::string single = lowerHeader(r, "b3"); !single.empty()) {
    if (auto b3 = fromB3Single(single)) return b3;
  }
  if (r.count("x-b3-traceid") > 0) {
    return fromB3(lowerHeader(r, "x-b3-traceid"), lowerHeader(r, "x-b3-spanid"),
                  lowerHeader(r, "x-b3-sampled"));
  }
  return std::nullopt;
}

TraceContext newTrace() {
  std::string tp = hbone::generateTraceparent();  // "00-<32>-<16>-01"
  return TraceContext{tp.substr(3, 32), "", true};
}

std::string newSpanId() { return hbone::generateTraceparent().substr(36, 16); }

void injectTrace(HttpRequest& r, const TraceContext& ctx, const std::string& span_id) {
  for (auto name : {"traceparent", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                    "x-b3-sampled", "x-b3-flags"}) {
    r.erase(name);
  }
  r.set("traceparent", "00-" + ctx.trace_id + "-" + span_id + (ctx.sampled ? "-01" : "-00"));
  r.set("x-b3-traceid", ctx.trace_id);
  r.set("x-b3-spanid", span_id);
  if (!ctx.parent_span_id.empty()) r.set("x-b3-parentspanid", ctx.parent_span_id);
  r.set("x-b3-sampled", ctx.sampled ? "1" : "0");
}

std::string zipkinJson(const std::vector<Span>& spans, const std::string& service) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : spans) {
    nlohmann::json j{
        {"traceId", s.trace_id},
        {"id", s.id},
        {"name", s.name},
        {"kind", "SERVER"},
        {"timestamp",
         std::chrono::duration_cast<std::chrono::microseconds>(s.start.time_since_epoch()).count()},
        {"duration", std::max<int64_t>(1, s.duration.count())},
        {"localEndpoint", {{"serviceName", service}}},
        {"tags", s.tags}};
    if (!s.parent_id.empty()) j["parentId"] = s.parent_id;
    out.push_back(std::move(j));
  }
  return out.dump();
}

struct ZipkinExporter::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor ex, asio::ip::tcp::endpoint c, std::string svc,
        std::chrono::milliseconds interval, size_t max)
      : executor(std::move(ex)),
        collector(c),
        service(std::move(svc)),
        flush_interval(interval),
        max_batch(max),
        timer(executor) {}
  asio::awaitable<void> run();
  asio::awaitable<Status> post(std::string body);

  asio::any_io_executor executor;
  asio::ip::tcp::endpoint collector;
  std::string service;
  std::chrono::milliseconds flush_interval;
  size_t max_batch;
  asio::steady_timer timer;
  std::vector<Span> queue;
  uint64_t exported = 0;
  bool stopped = false;
};

asio::awaitable<Status> ZipkinExporter::State::post(std::string body) {
  asio::ip::tcp::socket socket(executor);
  boost::system::error_code ec;
  co_await socket.async_connect(collector, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "connect to the Zipkin collector: " + ec.message()};
  HttpRequest req{http::verb::post, "/api/v2/spans", 11};
  req.set(http::field::host, hbone::formatAuthority(collector));
  req.set(http::field::content_type, "application/json");
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  co_await http::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "post spans: " + ec.message()};
  boost::beast::flat_buffer buffer;
  HttpResponse resp;
  co_await http::async_read(socket, buffer, resp, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "Zipkin collector response: " + ec.message()};
  if (resp.result_int() >= 300) co_return makeError("Zipkin collector: HTTP {}", resp.result_int());
  co_return Status::ok();
}

asio::awaitable<void> ZipkinExporter::State::run() {
  auto self = shared_from_this();
  while (!stopped) {
    timer.expires_after(flush_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (queue.empty()) continue;
    std::vector<Span> batch;
    batch.swap(queue);
    Status st = co_await post(zipkinJson(batch, service));
    if (!st) {
      logWarn("tracing: dropped {} spans: {}", batch.size(), st.message());
      continue;
    }
    exported += batch.size();
  }
}

ZipkinExporter::ZipkinExporter(asio::any_io_executor executor, asio::ip::tcp::endpoint collector,
                               std::string service, std::chrono::milliseconds flush_interval,
                               size_t max_batch)
    : state_(std::make_shared<State>(std::move(executor), collector, std::move(service),
                                     flush_interval, max_batch)) {
  spawn(state_->executor, state_->run(), "Zipkin exporter");
}

ZipkinExporter::~ZipkinExporter() {
  state_->stopped = true;
  state_->timer.cancel();
}

void ZipkinExporter::add(Span span) {
  if (state_->queue.size() >= state_->max_batch) {
    state_->timer.cancel();  // flush now; spans past twice the batch are dropped
    if (state_->queue.size() >= 2 * state_->max_batch) return;
  }
  state_->queue.push_back(std::move(span));
}

uint64_t ZipkinExporter::exported() const { return state_->exported; }

}  // namespace ambit::waypoint
