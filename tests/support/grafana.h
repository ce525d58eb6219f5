#pragma once
// What tests check of the Grafana dashboards in deploy/grafana/ (Grafana's dashboard JSON model):
// their structure, and the PromQL of every panel with the dashboard's template variables
// substituted, so the queries can be evaluated by a real Prometheus.

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::test {

// One PromQL expression of a panel target.
struct PanelQuery {
  int panel_id = 0;
  std::string panel_title;
  std::string ref_id;
  std::string expr;
};

// A query variable of the form label_values(<series selector>, <label>).
struct LabelValuesVariable {
  std::string name;
  std::string selector;  // e.g. istio_build{component="ztunnel"}; may use earlier variables
  std::string label;
};

struct Dashboard {
  std::filesystem::path file;
  std::string title;
  std::vector<LabelValuesVariable> variables;  // in declaration order (later may use earlier)
  std::vector<PanelQuery> queries;
};

// deploy/grafana/*.json of the source tree, sorted.
std::vector<std::filesystem::path> dashboardFiles();

// Everything wrong with a dashboard's structure, one message each (empty: none): panel ids not
// unique or missing, a panel or target without the ${DS_PROMETHEUS} datasource, a target without
// an expr or refId (or a refId used twice in a panel), no datasource variable DS_PROMETHEUS, a
// query variable that is not label_values(selector, label), a $variable used but not defined,
// no title or uid, gridPos missing.
std::vector<std::string> dashboardProblems(const nlohmann::json& dashboard);

// Reads and parses a dashboard file (an error names the file and the parse failure, or the
// first structural problem).
Result<Dashboard> loadDashboard(const std::filesystem::path& file);

// Replaces $name, ${name} and [[name]] for each variable in `values`, and Grafana's
// $__rate_interval / $__interval / $__range with `interval`.
std::string substituteVariables(std::string expr, const std::map<std::string, std::string>& values,
                                std::string_view interval);

}  // namespace ambit::test
