#pragma once
// Access logs of the ztunnel (one line per connection) and the waypoint (one per request), in
// one of two documented formats (docs/observability.md) chosen by --access-log-format:
//
//   text  logfmt, `key=value` pairs in a fixed order; a value with a space, quote, '=', '\' or a
//         control byte (or an empty one) is double-quoted with \" \\ \n \r \t and \xNN escapes,
//         so a hostile header value can neither break the line nor forge a field;
//   json  one JSON object per line with the same keys; numbers as numbers, strings escaped per
//         RFC 8259 (invalid UTF-8 replaced by U+FFFD);
//   off   nothing is written.
//
// A record is written as one log line on the daemon's log stream (stderr), after the logger's
// prefix: `<timestamp> info <component> access <record>`, so `sed 's/^.* access //'` yields the
// text or JSON record alone.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace ambit::admin {

enum class AccessLogFormat { kOff, kText, kJson };

// "text" | "json" | "off"; anything else is an error naming the choices.
Result<AccessLogFormat> parseAccessLogFormat(std::string_view name);

// The fields of one access-log record, in the order they are written. Keys are fixed by the
// caller (ASCII, no spaces); values are anything, including what a peer sent.
class AccessLogRecord {
 public:
  using Value = std::variant<std::string, int64_t, uint64_t, double>;

  AccessLogRecord& add(std::string_view key, std::string_view value);
  AccessLogRecord& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  AccessLogRecord& add(std::string_view key, uint64_t value);
  AccessLogRecord& add(std::string_view key, int64_t value);
  AccessLogRecord& add(std::string_view key, double value);

  const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, Value>> fields_;
};

// The record in `format` without a trailing newline ("" for kOff).
std::string formatAccessLog(const AccessLogRecord& record, AccessLogFormat format);

// Writes the record as an info line "access <record>" (nothing for kOff).
void writeAccessLog(const AccessLogRecord& record, AccessLogFormat format);

// RFC 3339 UTC with milliseconds, the `start_time` field: 2026-12-04T22:05:42.123Z.
std::string accessLogTime(std::chrono::system_clock::time_point t);

}  // namespace ambit::admin
