// Explanations as text (a numbered chain, then the verdict) and as JSON.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/explain/explanation.h"

namespace ambit::cli {
namespace {

std::string requestLine(const ExplainRequest& r) {
  std::string line = fmt::format("{} {} from {} to {}", r.method, r.path, r.from, r.to);
  for (const auto& [k, v] : r.headers) line += fmt::format(" -H '{}: {}'", k, v);
  if (!r.jwt.empty()) line += " with a JWT";
  return line;
}

std::string statusText(const Explanation& e) {
  if (e.status == 0) return "connection refused/reset";
  if (e.status == 200) return "the app answers";
  return fmt::format("HTTP {}", e.status);
}

}  // namespace

std::string renderExplanationText(const ExplainRequest& request, const Explanation& e) {
  std::string out = "Request: " + requestLine(request) + "\n\n";
  int n = 0;
  for (const auto& s : e.steps) {
    out += fmt::format("{:>2}. {:<12} {}", ++n, s.stage, s.summary);
    if (s.origin.known()) out += "  [" + s.origin.toString() + "]";
    out += "\n";
    for (const auto& d : s.details) out += fmt::format("    {:<12} {}\n", "", d);
  }
  out += fmt::format("\nVerdict: {} ({}): {}", verdictName(e.verdict), statusText(e), e.reason);
  if (!e.decided_by.empty()) {
    out += fmt::format("\nDecided by: {}", e.decided_by);
    if (e.decided_at.known()) out += " [" + e.decided_at.toString() + "]";
  }
  return out + "\n";
}

std::string renderExplanationJson(const ExplainRequest& request, const Explanation& e) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : e.steps) {
    steps.push_back({{"stage", s.stage},
                     {"summary", s.summary},
                     {"details", s.details},
                     {"origin", s.origin.toString()}});
  }
  nlohmann::json dests = nlohmann::json::array();
  for (const auto& d : e.destinations) {
    dests.push_back({{"service", d.service},
                     {"subset", d.subset},
                     {"weight", d.weight},
                     {"endpoints", d.endpoints},
                     {"allowed_endpoints", d.allowed},
                     {"denied_by", d.policies}});
  }
  nlohmann::json j{{"request",
                    {{"from", request.from},
                     {"to", request.to},
                     {"method", request.method},
                     {"path", request.path}}},
                   {"verdict", verdictName(e.verdict)},
                   {"status", e.status},
                   {"reason", e.reason},
                   {"decided_by", e.decided_by},
                   {"decided_at", e.decided_at.toString()},
                   {"route", e.route},
                   {"destinations", dests},
                   {"steps", steps}};
  return j.dump(2) + "\n";
}

}  // namespace ambit::cli
