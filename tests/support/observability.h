#pragma once
// What tests check of a daemon's operational surface (docs/observability.md): the process and
// build series every /metrics carries, promtool's verdict on an exposition, and the access-log
// records in a daemon's log, in either format.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ambit::test {

// Adds a test failure for each process_* family missing or implausible in `exposition`
// (open fds < 3, RSS 0, start time not within the last day) and when istio_build{component}
// is not 1. `who` prefixes the messages.
void expectProcessAndBuildMetrics(const std::string& exposition, std::string_view component,
                                  std::string_view who);

// Runs `promtool check metrics` on `exposition`; "" when it passes, else promtool's complaint.
// Lint findings (exit 3) containing one of `accepted` are not problems: the names Istio fixed
// and Kiali queries, e.g. istio_request_duration_milliseconds ("use base unit seconds").
// A missing /usr/bin/promtool is a failure too (scripts/setup.sh installs it).
std::string promtoolProblems(const std::string& exposition,
                             const std::vector<std::string>& accepted = {});

using AccessRecord = std::map<std::string, std::string>;

// Every access-log record in `log` (lines "... access <record>"): text (logfmt, quoted values
// unescaped) or JSON (numbers as their JSON text). A line that says "access " but parses as
// neither is returned with the single key "unparsed" holding the line.
std::vector<AccessRecord> accessRecords(std::string_view log);

// The records of `log` whose fields include every pair of `match`.
std::vector<AccessRecord> matchingAccessRecords(std::string_view log, const AccessRecord& match);

}  // namespace ambit::test
