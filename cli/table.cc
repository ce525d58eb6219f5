#include "cli/table.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace ambit::cli {

Result<OutputFormat> parseOutputFormat(std::string_view text) {
  if (text == "short") return OutputFormat::kShort;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  return makeError("-o '{}': unknown output format (use short, json or yaml)", text);
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::addRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<size_t> width(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);
  std::string out;
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 1, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  print(headers_);
  for (const auto& r : rows_) print(r);
  return out;
}

std::string renderJson(const nlohmann::json& value) { return value.dump(2) + "\n"; }

namespace {

void emit(YAML::Emitter& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key << k << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string:
      out << v.get<std::string>();
      break;
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans print the same in both
      out << v.dump();
  }
}

}  // namespace

std::string renderYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string renderOutput(OutputFormat format, const nlohmann::json& value, const Table& table) {
  switch (format) {
    case OutputFormat::kJson:
      return renderJson(value);
    case OutputFormat::kYaml:
      return renderYaml(value);
    case OutputFormat::kShort:
      break;
  }
  return table.render();
}

}  // namespace ambit::cli
