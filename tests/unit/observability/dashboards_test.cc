// The dashboards in deploy/grafana/: Grafana's JSON model as ambit writes it (unique panel ids,
// a PromQL expr in every target, the ${DS_PROMETHEUS} datasource variable everywhere, every
// $variable defined), and every expression accepted by promtool. The e2e test
// (tests/e2e/observability) evaluates the same expressions against a lab.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "tests/support/grafana.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ambit::test {
namespace {

using nlohmann::json;

json validDashboard() {
  const json ds = {{"type", "prometheus"}, {"uid", "${DS_PROMETHEUS}"}};
  return {{"title", "t"},
          {"uid", "u"},
          {"templating",
           {{"list",
             {{{"name", "DS_PROMETHEUS"}, {"type", "datasource"}, {"query", "prometheus"}},
              {{"name", "instance"},
               {"type", "query"},
               {"datasource", ds},
               {"query", {{"query", "label_values(istio_build, instance)"}}}}}}}},
          {"panels",
           {{{"id", 1},
             {"title", "a"},
             {"type", "timeseries"},
             {"datasource", ds},
             {"gridPos", {{"h", 8}, {"w", 12}, {"x", 0}, {"y", 0}}},
             {"targets",
              {{{"refId", "A"}, {"datasource", ds}, {"expr", "up{instance=\"$instance\"}"}}}}}}}};
}

TEST(Dashboards, TheFourDashboardsExistAndHaveNoStructuralProblem) {
  std::set<std::string> names;
  for (const auto& file : dashboardFiles()) {
    names.insert(file.filename().string());
    std::ifstream in(file);
    json d = json::parse(in, nullptr, false);
    ASSERT_FALSE(d.is_discarded()) << file << ": not JSON";
    auto problems = dashboardProblems(d);
    EXPECT_TRUE(problems.empty()) << file << ":\n" << testing::PrintToString(problems);
    auto loaded = loadDashboard(file);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_GE(loaded->queries.size(), 8u) << file;
  }
  for (const char* want :
       {"ambit-mesh.json", "ambit-workload.json", "ambit-ztunnel.json", "ambit-waypoint.json"}) {
    EXPECT_TRUE(names.count(want)) << want << " missing from deploy/grafana";
  }
}

TEST(Dashboards, TheCheckFindsEachKindOfMistake) {
  EXPECT_TRUE(dashboardProblems(validDashboard()).empty())
      << testing::PrintToString(dashboardProblems(validDashboard()));
  auto expectProblem = [](json d, const std::string& want) {
    auto problems = dashboardProblems(d);
    bool found = false;
    for (const auto& p : problems) found |= p.find(want) != std::string::npos;
    EXPECT_TRUE(found) << "wanted '" << want << "' in " << testing::PrintToString(problems);
  };
  json dup = validDashboard();
  dup["panels"].push_back(dup["panels"][0]);
  expectProblem(dup, "used twice");
  json no_expr = validDashboard();
  no_expr["panels"][0]["targets"][0].erase("expr");
  expectProblem(no_expr, "no expr");
  json fixed_ds = validDashboard();
  fixed_ds["panels"][0]["datasource"]["uid"] = "P1809F7CD0C75ACF3";
  expectProblem(fixed_ds, "datasource is not ${DS_PROMETHEUS}");
  json no_ds_var = validDashboard();
  no_ds_var["templating"]["list"].erase(0);
  expectProblem(no_ds_var, "no datasource variable DS_PROMETHEUS");
  json undefined = validDashboard();
  undefined["panels"][0]["targets"][0]["expr"] = "up{job=\"$job\"}";
  expectProblem(undefined, "undefined $job");
  json bad_var = validDashboard();
  bad_var["templating"]["list"][1]["query"]["query"] = "query_result(up)";
  expectProblem(bad_var, "not label_values(selector, label)");
  json same_ref = validDashboard();
  same_ref["panels"][0]["targets"].push_back(same_ref["panels"][0]["targets"][0]);
  expectProblem(same_ref, "missing or repeated");
}

TEST(Dashboards, VariablesAndGrafanaIntervalsAreSubstituted) {
  EXPECT_EQ(
      substituteVariables("rate(x{a=\"$ns\",b=\"${ns_long}\",c=\"[[ns]]\"}[$__rate_interval])",
                          {{"ns", "default"}, {"ns_long", "other"}}, "1m"),
      "rate(x{a=\"default\",b=\"other\",c=\"default\"}[1m])");
}

// Every panel expression, variables filled in, is valid PromQL for promtool (as a recording
// rule), so a typo fails here and not only in the e2e test.
TEST(Dashboards, EveryPanelExpressionIsValidPromQl) {
  AMBIT_REQUIRE(missingProgram("/usr/bin/promtool", "prometheus"));
  TempDir dir;
  std::ofstream rules(dir.path() / "rules.yml");
  rules << "groups:\n";
  size_t count = 0;
  for (const auto& file : dashboardFiles()) {
    auto d = loadDashboard(file);
    ASSERT_TRUE(d) << d.error().message;
    rules << "- name: " << file.stem().string() << "\n  rules:\n";
    std::map<std::string, std::string> values;
    for (const auto& v : d->variables) values[v.name] = "value";
    for (const auto& q : d->queries) {
      json expr = substituteVariables(q.expr, values, "1m");
      rules << "  - record: panel_" << q.panel_id << "_" << q.ref_id
            << "\n    expr: " << expr.dump() << "\n";
      ++count;
    }
  }
  rules.close();
  CommandOutput out =
      run({"/usr/bin/promtool", "check", "rules", (dir.path() / "rules.yml").string()});
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_GE(count, 40u);
}

}  // namespace
}  // namespace ambit::test
