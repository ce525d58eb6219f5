#include "cli/table.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace ambit::cli {
namespace {

TEST(TableTest, AlignsColumnsOnTheWidestCellAndLeavesNoTrailingSpace) {
  Table t({"NAMESPACE", "POD NAME", "NODE"});
  t.addRow({"default", "my-app-v1", "node1"});
  t.addRow({"istio-system", "x", ""});
  EXPECT_EQ(t.render(),
            "NAMESPACE    POD NAME  NODE\n"
            "default      my-app-v1 node1\n"
            "istio-system x\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(TableTest, ShortRowsArePaddedWithEmptyCells) {
  Table t({"A", "B", "C"});
  t.addRow({"1"});
  t.addRow({"1", "2", "3"});
  EXPECT_EQ(t.render(), "A B C\n1\n1 2 3\n");
}

TEST(TableTest, HeadersOnlyWhenThereAreNoRows) {
  EXPECT_EQ(Table({"NAME", "STATUS"}).render(), "NAME STATUS\n");
}

TEST(OutputFormatTest, AcceptsShortJsonYamlAndNamesTheChoicesOtherwise) {
  EXPECT_EQ(*parseOutputFormat("short"), OutputFormat::kShort);
  EXPECT_EQ(*parseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*parseOutputFormat("yaml"), OutputFormat::kYaml);
  auto bad = parseOutputFormat("xml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("'xml'"), std::string::npos);
  EXPECT_NE(bad.error().message.find("short, json or yaml"), std::string::npos);
}

TEST(OutputFormatTest, YamlRoundTripsTheJson) {
  nlohmann::json v = {{"name", "a"},
                      {"ports", {80, 443}},
                      {"enabled", true},
                      {"nested", {{"k", "v"}, {"empty", nlohmann::json::array()}}}};
  YAML::Node n = YAML::Load(renderYaml(v));
  EXPECT_EQ(n["name"].as<std::string>(), "a");
  EXPECT_EQ(n["ports"][1].as<int>(), 443);
  EXPECT_TRUE(n["enabled"].as<bool>());
  EXPECT_EQ(n["nested"]["k"].as<std::string>(), "v");
  EXPECT_EQ(n["nested"]["empty"].size(), 0u);
}

TEST(OutputFormatTest, RenderOutputPicksTheFormat) {
  Table t({"X"});
  t.addRow({"1"});
  nlohmann::json v = {{"x", 1}};
  EXPECT_EQ(renderOutput(OutputFormat::kShort, v, t), "X\n1\n");
  EXPECT_EQ(nlohmann::json::parse(renderOutput(OutputFormat::kJson, v, t)), v);
  EXPECT_EQ(YAML::Load(renderOutput(OutputFormat::kYaml, v, t))["x"].as<int>(), 1);
}

}  // namespace
}  // namespace ambit::cli
