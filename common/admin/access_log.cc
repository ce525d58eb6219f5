#include "common/admin/access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace ambit::admin {
namespace {

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void appendTextValue(std::string& out, std::string_view v) {
  if (!needsQuotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string textNumber(const AccessLogRecord::Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{:.3f}", x);
        } else {
          return std::to_string(x);
        }
      },
      v);
}

std::string text(const AccessLogRecord& r) {
  std::string out;
  for (const auto& [key, value] : r.fields()) {
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    if (const auto* s = std::get_if<std::string>(&value)) {
      appendTextValue(out, *s);
    } else {
      out += textNumber(value);
    }
  }
  return out;
}

std::string json(const AccessLogRecord& r) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& field : r.fields()) {
    const std::string& key = field.first;  // clang 14 cannot capture a structured binding
    std::visit([&j, &key](const auto& x) { j[key] = x; }, field.second);
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

Result<AccessLogFormat> parseAccessLogFormat(std::string_view name) {
  if (name == "text") return AccessLogFormat::kText;
  if (name == "json") return AccessLogFormat::kJson;
  if (name == "off") return AccessLogFormat::kOff;
  return makeError("access log format '{}': expected text, json or off", name);
}

AccessLogRecord& AccessLogRecord::add(std::string_view key, std::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value));
  return *this;
}
AccessLogRecord& AccessLogRecord::add(std::string_view key, uint64_t value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}
AccessLogRecord& AccessLogRecord::add(std::string_view key, int64_t value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}
AccessLogRecord& AccessLogRecord::add(std::string_view key, double value) {
  fields_.emplace_back(std::string(key), value);
  return *this;
}

std::string formatAccessLog(const AccessLogRecord& record, AccessLogFormat format) {
  switch (format) {
    case AccessLogFormat::kText:
      return text(record);
    case AccessLogFormat::kJson:
      return json(record);
    case AccessLogFormat::kOff:
      break;
  }
  return {};
}

void writeAccessLog(const AccessLogRecord& record, AccessLogFormat format) {
  if (format == AccessLogFormat::kOff) return;
  logInfo("access {}", formatAccessLog(record, format));
}

std::string accessLogTime(std::chrono::system_clock::time_point t) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - seconds).count();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", seconds, ms);
}

}  // namespace ambit::admin
