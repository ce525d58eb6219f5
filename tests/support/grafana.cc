#include "tests/support/grafana.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

namespace ambit::test {
namespace {

using nlohmann::json;

constexpr std::string_view kDatasourceUid = "${DS_PROMETHEUS}";
const std::set<std::string> kBuiltins{"__rate_interval", "__interval", "__range", "DS_PROMETHEUS"};

bool usesPromDatasource(const json& j) {
  return j.contains("datasource") && j["datasource"].is_object() &&
         j["datasource"].value("uid", "") == kDatasourceUid &&
         j["datasource"].value("type", "") == "prometheus";
}

// Every $name / ${name} / [[name]] in `text`.
std::set<std::string> variablesUsed(const std::string& text) {
  static const std::regex re(R"(\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\])");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    for (size_t g = 1; g <= 3; ++g) {
      if ((*it)[g].matched) out.insert((*it)[g].str());
    }
  }
  return out;
}

// label_values(<selector>, <label>) -> {selector, label}.
std::optional<std::pair<std::string, std::string>> parseLabelValues(const std::string& q) {
  static const std::regex re(
      R"(^\s*label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$)");
  std::smatch m;
  if (!std::regex_match(q, m, re)) return std::nullopt;
  return std::pair{m[1].str(), m[2].str()};
}

std::string variableQuery(const json& v) {
  if (v.contains("query") && v["query"].is_object()) return v["query"].value("query", "");
  return v.value("query", "");
}

// Panels, including those nested in rows.
void collectPanels(const json& panels, std::vector<const json*>& out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    out.push_back(&p);
    if (p.contains("panels")) collectPanels(p["panels"], out);
  }
}

void checkPanel(const json& p, std::set<int>& ids, std::vector<std::string>& problems) {
  const std::string title = p.value("title", "");
  const std::string where = "panel '" + title + "'";
  if (!p.contains("id") || !p["id"].is_number_integer()) {
    problems.push_back(where + ": no integer id");
  } else if (!ids.insert(p["id"].get<int>()).second) {
    problems.push_back(where + ": id " + std::to_string(p["id"].get<int>()) + " used twice");
  }
  if (!p.contains("gridPos") || !p["gridPos"].is_object())
    problems.push_back(where + ": no gridPos");
  if (title.empty()) problems.push_back("panel " + p.value("id", json(0)).dump() + ": no title");
  if (p.value("type", "") == "row") return;
  if (!usesPromDatasource(p)) problems.push_back(where + ": datasource is not ${DS_PROMETHEUS}");
  if (!p.contains("targets") || !p["targets"].is_array() || p["targets"].empty()) {
    problems.push_back(where + ": no targets");
    return;
  }
  std::set<std::string> refs;
  for (const auto& t : p["targets"]) {
    const std::string ref = t.value("refId", "");
    if (ref.empty() || !refs.insert(ref).second) {
      problems.push_back(where + ": target refId '" + ref + "' missing or repeated");
    }
    if (!t.contains("expr") || !t["expr"].is_string() || t["expr"].get<std::string>().empty()) {
      problems.push_back(where + " target " + ref + ": no expr");
    }
    if (!usesPromDatasource(t)) {
      problems.push_back(where + " target " + ref + ": datasource is not ${DS_PROMETHEUS}");
    }
  }
}

}  // namespace

std::vector<std::filesystem::path> dashboardFiles() {
  std::vector<std::filesystem::path> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(AMBIT_SOURCE_DIR) + "/deploy/grafana")) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> dashboardProblems(const json& d) {
  std::vector<std::string> problems;
  if (!d.is_object()) return {"not a JSON object"};
  if (d.value("title", "").empty()) problems.push_back("no title");
  if (d.value("uid", "").empty()) problems.push_back("no uid");
  std::set<std::string> defined = kBuiltins;
  bool datasource_variable = false;
  const json vars =
      d.contains("templating") ? d["templating"].value("list", json::array()) : json::array();
  for (const auto& v : vars) {
    const std::string name = v.value("name", "");
    if (v.value("type", "") == "datasource") {
      datasource_variable |= name == "DS_PROMETHEUS" && v.value("query", "") == "prometheus";
    } else if (v.value("type", "") == "query") {
      if (!parseLabelValues(variableQuery(v))) {
        problems.push_back("variable " + name + ": query is not label_values(selector, label)");
      }
      if (!usesPromDatasource(v)) {
        problems.push_back("variable " + name + ": datasource is not ${DS_PROMETHEUS}");
      }
      for (const auto& used : variablesUsed(variableQuery(v))) {
        if (!defined.count(used)) {
          problems.push_back("variable " + name + " uses $" + used + " before it is defined");
        }
      }
    }
    defined.insert(name);
  }
  if (!datasource_variable) {
    problems.push_back("no datasource variable DS_PROMETHEUS (type datasource, query prometheus)");
  }
  const json all_panels = d.value("panels", json::array());
  std::vector<const json*> panels;  // into all_panels
  collectPanels(all_panels, panels);
  if (panels.empty()) problems.push_back("no panels");
  std::set<int> ids;
  for (const json* p : panels) {
    checkPanel(*p, ids, problems);
    for (const auto& t : p->value("targets", json::array())) {
      for (const auto& used : variablesUsed(t.value("expr", ""))) {
        if (!defined.count(used)) {
          problems.push_back("panel '" + p->value("title", "") + "' uses undefined $" + used);
        }
      }
    }
  }
  return problems;
}

Result<Dashboard> loadDashboard(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return makeError("{}: cannot be read", file.string());
  std::stringstream text;
  text << in.rdbuf();
  json d = json::parse(text.str(), nullptr, false);
  if (d.is_discarded()) return makeError("{}: not valid JSON", file.string());
  if (auto problems = dashboardProblems(d); !problems.empty()) {
    return makeError("{}: {}", file.string(), problems.front());
  }
  Dashboard out;
  out.file = file;
  out.title = d.value("title", "");
  for (const auto& v : d["templating"].value("list", json::array())) {
    if (v.value("type", "") != "query") continue;
    auto lv = parseLabelValues(variableQuery(v));
    out.variables.push_back({v.value("name", ""), lv->first, lv->second});
  }
  std::vector<const json*> panels;
  collectPanels(d["panels"], panels);
  for (const json* p : panels) {
    for (const auto& t : p->value("targets", json::array())) {
      out.queries.push_back(
          {p->value("id", 0), p->value("title", ""), t.value("refId", ""), t.value("expr", "")});
    }
  }
  return out;
}

std::string substituteVariables(std::string expr, const std::map<std::string, std::string>& values,
                                std::string_view interval) {
  auto replaceAll = [&expr](const std::string& from, std::string_view to) {
    for (size_t at = expr.find(from); at != std::string::npos;
         at = expr.find(from, at + to.size())) {
      expr.replace(at, from.size(), to);
    }
  };
  for (const char* builtin : {"__rate_interval", "__interval", "__range"}) {
    replaceAll("${" + std::string(builtin) + "}", interval);
    replaceAll("$" + std::string(builtin), interval);
  }
  // Longest names first, so $namespace_x is not taken for $namespace followed by "_x".
  std::vector<std::pair<std::string, std::string>> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [name, value] : sorted) {
    replaceAll("${" + name + "}", value);
    replaceAll("[[" + name + "]]", value);
    replaceAll("$" + name, value);
  }
  return expr;
}

}  // namespace ambit::test
