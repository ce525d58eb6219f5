#pragma once
// istioctl-style output for ambitctl's inspection commands: an aligned table with upper-case
// headers (columns separated by at least one space, the last one unpadded, as Go's tabwriter
// prints istioctl's), or the same data as JSON or YAML for `-o json|yaml`.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::cli {

enum class OutputFormat { kShort, kJson, kYaml };

// "short" (the table), "json" or "yaml"; anything else is an error naming the accepted values.
Result<OutputFormat> parseOutputFormat(std::string_view text);

class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // A row with fewer cells than headers is padded with empty cells; more is a programming error
  // and the extra cells are dropped.
  void addRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// JSON (2-space indent) or block-style YAML of `value`, each ending in a newline.
std::string renderJson(const nlohmann::json& value);
std::string renderYaml(const nlohmann::json& value);

// `value` as the format asks; `table` is used for kShort.
std::string renderOutput(OutputFormat format, const nlohmann::json& value, const Table& table);

}  // namespace ambit::cli
