#include "tests/support/observability.h"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "tests/support/prometheus.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ambit::test {
namespace {

// One logfmt value starting at `at` (bare, or quoted with \" \\ \n \r \t \xNN escapes).
std::optional<std::string> logfmtValue(std::string_view line, size_t& at) {
  std::string out;
  if (at < line.size() && line[at] == '"') {
    ++at;
    while (at < line.size() && line[at] != '"') {
      char c = line[at++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at >= line.size()) return std::nullopt;
      char e = line[at++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'x': {
          if (at + 2 > line.size()) return std::nullopt;
          out += static_cast<char>(std::stoi(std::string(line.substr(at, 2)), nullptr, 16));
          at += 2;
          break;
        }
        default:
          out += e;
      }
    }
    if (at >= line.size()) return std::nullopt;  // unterminated
    ++at;
    return out;
  }
  while (at < line.size() && line[at] != ' ') out += line[at++];
  return out;
}

std::optional<AccessRecord> parseLogfmt(std::string_view line) {
  AccessRecord r;
  size_t at = 0;
  while (at < line.size()) {
    size_t eq = line.find('=', at);
    if (eq == std::string_view::npos || eq == at) return std::nullopt;
    std::string key(line.substr(at, eq - at));
    if (key.find(' ') != std::string::npos) return std::nullopt;
    at = eq + 1;
    auto value = logfmtValue(line, at);
    if (!value) return std::nullopt;
    r[key] = *value;
    if (at < line.size() && line[at] != ' ') return std::nullopt;
    ++at;
  }
  if (r.empty()) return std::nullopt;
  return r;
}

std::optional<AccessRecord> parseJson(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  AccessRecord r;
  for (const auto& [key, value] : j.items()) {
    r[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return r;
}

}  // namespace

void expectProcessAndBuildMetrics(const std::string& text, std::string_view component,
                                  std::string_view who) {
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_TRUE(metricValue(text, name)) << who << ": no " << name;
  }
  EXPECT_GE(metricValue(text, "process_open_fds").value_or(0), 3) << who;
  EXPECT_GT(metricValue(text, "process_resident_memory_bytes").value_or(0), 0) << who;
  double start = metricValue(text, "process_start_time_seconds").value_or(0);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 24 * 3600.0) << who << ": start time " << start;
  EXPECT_LE(start, now + 1) << who << ": start time " << start;
  bool build = false;
  auto parsed = PrometheusText::parse(text);
  if (parsed) {
    for (const auto& s : parsed->samples()) {
      if (s.name != "istio_build") continue;
      auto c = s.labels.find("component");
      auto t = s.labels.find("tag");
      build = build || (c != s.labels.end() && c->second == component && t != s.labels.end() &&
                        !t->second.empty() && s.value == 1);
    }
  }
  EXPECT_TRUE(build) << who << ": no istio_build{component=\"" << component << "\",tag=...} 1";
}

std::string promtoolProblems(const std::string& exposition,
                             const std::vector<std::string>& accepted) {
  TempDir dir("ambit-promtool");
  std::ofstream(dir.file("metrics.txt")) << exposition;
  CommandOutput r = sh("/usr/bin/promtool check metrics < " + dir.file("metrics.txt"));
  if (r.exit_code == 0) return "";
  std::string all = r.out + r.err;
  if (r.exit_code != 3) {
    return "promtool check metrics (exit " + std::to_string(r.exit_code) + "): " + all;
  }
  std::string left;  // lint findings not accepted
  std::string_view rest = all;
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (line.empty()) continue;
    bool ok = false;
    for (const auto& a : accepted) ok = ok || line.find(a) != std::string_view::npos;
    if (!ok) left += std::string(line) + "\n";
  }
  return left.empty() ? "" : "promtool check metrics (lint): " + left;
}

std::vector<AccessRecord> accessRecords(std::string_view log) {
  std::vector<AccessRecord> out;
  while (!log.empty()) {
    size_t eol = log.find('\n');
    std::string_view line = log.substr(0, eol);
    log = eol == std::string_view::npos ? std::string_view() : log.substr(eol + 1);
    size_t at = line.find(" access ");
    if (at == std::string_view::npos) continue;
    std::string_view record = line.substr(at + 8);
    auto r = !record.empty() && record.front() == '{' ? parseJson(record) : parseLogfmt(record);
    out.push_back(r ? *r : AccessRecord{{"unparsed", std::string(line)}});
  }
  return out;
}

std::vector<AccessRecord> matchingAccessRecords(std::string_view log, const AccessRecord& match) {
  std::vector<AccessRecord> out;
  for (auto& r : accessRecords(log)) {
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = r.find(k);
      all = all && it != r.end() && it->second == v;
    }
    if (all) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace ambit::test
