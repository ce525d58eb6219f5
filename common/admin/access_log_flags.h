#pragma once
// The access-log flags of the daemons that write one (ztunnel, waypoint), declared once:
//   --access-log-format text|json|off   (default text)
//   --no-access-log                     the same as --access-log-format=off
// Header-only so that ambit_admin does not depend on CLI11; include it from a main.

#include <CLI/CLI.hpp>

#include "common/admin/access_log.h"

namespace ambit::admin {

inline void addAccessLogFlags(CLI::App& app, AccessLogFormat& format) {
  app.add_option_function<std::string>(
         "--access-log-format",
         [&format](const std::string& name) { format = *parseAccessLogFormat(name); },
         "access log: text (logfmt) | json | off [text]; see docs/observability.md")
      ->check(CLI::IsMember({"text", "json", "off"}));
  app.add_flag_callback(
      "--no-access-log", [&format] { format = AccessLogFormat::kOff; },
      "disable the access log (--access-log-format=off)");
}

}  // namespace ambit::admin
