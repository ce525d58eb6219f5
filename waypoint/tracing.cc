#include "waypoint/tracing.h"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <nlohmann/json.hpp>

#include "common/hbone/protocol.h"

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

TraceContext newTrace() { return TraceContext{hbone::randomHexId(16), "", true}; }

std::string newSpanId() { return hbone::randomHexId(8); }

void injectTrace(HttpRequest& r, std::string_view trace_id, bool sampled,
                 std::string_view parent_span_id, std::string_view span_id) {
  // Every trace header a request may carry; the first five are the ones injected.
  static constexpr std::array<std::string_view, 7> kTraceHeaders = {
      "traceparent",  "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
      "x-b3-sampled", "b3",           "x-b3-flags"};
  enum class Injected : size_t { kTraceparent, kTraceId, kSpanId, kParentSpanId, kSampled };
  // Beast's enum value of each injected name (field::unknown today), looked up once:
  // insert(name, value) would look it up again on every request.
  static const std::array<http::field, 5> kFields = [] {
    std::array<http::field, 5> fields{};
    for (size_t i = 0; i < fields.size(); ++i) {
      fields[i] = http::string_to_field(
          boost::beast::string_view(kTraceHeaders[i].data(), kTraceHeaders[i].size()));
    }
    return fields;
  }();
  // Most requests carry none of them: one pass over the fields finds out, instead of a lookup
  // per name. With none left, insert() is set() without its lookup.
  const auto isTraceHeader = [](boost::beast::string_view name) {
    return std::ranges::any_of(kTraceHeaders, [&](std::string_view t) {
      return boost::beast::iequals(name, boost::beast::string_view(t.data(), t.size()));
    });
  };
  if (std::ranges::any_of(r, [&](const auto& f) { return isTraceHeader(f.name_string()); })) {
    for (std::string_view name : kTraceHeaders) {
      r.erase(boost::beast::string_view(name.data(), name.size()));
    }
  }
  const auto insert = [&](Injected which, std::string_view value) {
    const auto i = static_cast<size_t>(which);
    r.insert(kFields[i],
             boost::beast::string_view(kTraceHeaders[i].data(), kTraceHeaders[i].size()),
             boost::beast::string_view(value.data(), value.size()));
  };
  // "00-<trace>-<span>-<flags>", formatted on the stack (insert() copies it into the field);
  // ids longer than ours (32 and 16 hex digits) on the heap.
  std::array<char, 64> buf;
  std::string big;
  const size_t size = 3 + trace_id.size() + 1 + span_id.size() + 3;
  char* const out = size <= buf.size() ? buf.data() : (big.resize(size), big.data());
  char* p = std::copy_n("00-", 3, out);
  p = std::ranges::copy(trace_id, p).out;
  *p++ = '-';
  p = std::ranges::copy(span_id, p).out;
  std::copy_n(sampled ? "-01" : "-00", 3, p);
  insert(Injected::kTraceparent, std::string_view(out, size));
  insert(Injected::kTraceId, trace_id);
  insert(Injected::kSpanId, span_id);
  if (!parent_span_id.empty()) insert(Injected::kParentSpanId, parent_span_id);
  insert(Injected::kSampled, sampled ? "1" : "0");
}

std::string zipkinJson(const std::vector<Span>& spans, const std::string& service) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : spans) {
    nlohmann::json j{
        {"traceId", s.trace_id},
        {"id", s.id},
        {"name", s.name},
        {"kind", s.kind == SpanKind::kClient ? "CLIENT" : "SERVER"},
        {"timestamp",
         std::chrono::duration_cast<std::chrono::microseconds>(s.start.time_since_epoch()).count()},
        {"duration", std::max<int64_t>(1, s.duration.count())},
        {"localEndpoint", {{"serviceName", service}}},
        {"tags", s.tags}};
    if (!s.parent_id.empty()) j["parentId"] = s.parent_id;
    if (s.error) j["tags"]["error"] = s.status_message.empty() ? "true" : s.status_message;
    if (!s.remote_ip.empty()) {
      const bool v6 = s.remote_ip.find(':') != std::string::npos;
      j["remoteEndpoint"] = {{v6 ? "ipv6" : "ipv4", s.remote_ip}, {"port", s.remote_port}};
    }
    out.push_back(std::move(j));
  }
  return out.dump();
}

}  // namespace ambit::waypoint
