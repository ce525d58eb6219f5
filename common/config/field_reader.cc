#include "common/config/field_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ambit::config {
namespace {

const char* typeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "null";
  }
}

int markLine(const YAML::Node& n) {
  if (!n.IsDefined()) return -1;
  const YAML::Mark m = n.Mark();
  return m.is_null() ? -1 : m.line;
}

}  // namespace

std::string fieldPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string fieldPath(std::string_view parent, size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

bool present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

bool isMap(const YAML::Node& node) { return node.IsDefined() && node.IsMap(); }

YAML::Node child(const YAML::Node& node, std::string_view key) {
  if (!isMap(node)) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node c = node[std::string(key)];
  return c.IsDefined() ? c : YAML::Node(YAML::NodeType::Undefined);
}

FieldReader::FieldReader(std::string file, std::string object, const YAML::Node& fallback,
                         ConfigErrors& errors)
    : file_(std::move(file)),
      object_(std::move(object)),
      fallback_(fallback),
      errors_(errors),
      base_count_(errors.size()) {}

void FieldReader::fail(const YAML::Node& at, std::string reason) {
  const YAML::Node& where = markLine(at) >= 0 ? at : fallback_;
  ConfigError e{file_, 0, 0, object_, std::move(reason)};
  if (markLine(where) >= 0) {
    e.line = where.Mark().line + 1;
    e.column = where.Mark().column + 1;
  }
  errors_.push_back(std::move(e));
}

bool FieldReader::checkFields(const YAML::Node& node, std::string_view path,
                              std::initializer_list<std::string_view> allowed) {
  return checkFields(node, path,
                     std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

bool FieldReader::checkFields(const YAML::Node& node, std::string_view path,
                              std::span<const std::string_view> allowed) {
  if (!present(node)) return true;
  if (!isMap(node)) {
    fail(node, fmt::format("{}: must be a map, got {}", path, typeName(node)));
    return false;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      fail(it->first, fmt::format("unknown field {}", fieldPath(path, key)));
    }
  }
  return true;
}

YAML::Node FieldReader::object(const YAML::Node& map, std::string_view key, std::string_view path,
                               std::initializer_list<std::string_view> allowed) {
  if (!isMap(map)) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node value = child(map, key);
  if (!present(value)) return YAML::Node(YAML::NodeType::Undefined);
  if (!checkFields(value, fieldPath(path, key), allowed)) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return value;
}

std::optional<std::string> FieldReader::str(const YAML::Node& map, std::string_view key,
                                            std::string_view path, bool required) {
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) {
    if (required) fail(map, fmt::format("missing required field {}", fieldPath(path, key)));
    return std::nullopt;
  }
  if (!v.IsScalar()) {
    fail(v, fmt::format("{}: must be a string, got {}", fieldPath(path, key), typeName(v)));
    return std::nullopt;
  }
  return v.Scalar();
}

std::optional<int64_t> FieldReader::integerValue(const YAML::Node& v, std::string_view path,
                                                 int64_t min, int64_t max) {
  int64_t out = 0;
  if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, out)) {
    const std::string got = v.IsScalar() ? fmt::format("'{}'", v.Scalar()) : typeName(v);
    fail(v, fmt::format("{}: must be an integer, got {}", path, got));
    return std::nullopt;
  }
  if (out < min || out > max) {
    fail(v, fmt::format("{}: {} is out of range [{}, {}]", path, out, min, max));
    return std::nullopt;
  }
  return out;
}

std::optional<int64_t> FieldReader::integer(const YAML::Node& map, std::string_view key,
                                            std::string_view path, int64_t min, int64_t max,
                                            bool required) {
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) {
    if (required) fail(map, fmt::format("missing required field {}", fieldPath(path, key)));
    return std::nullopt;
  }
  return integerValue(v, fieldPath(path, key), min, max);
}

std::optional<double> FieldReader::number(const YAML::Node& map, std::string_view key,
                                          std::string_view path, double min, double max) {
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) return std::nullopt;
  double out = 0;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, out) || !std::isfinite(out)) {
    fail(v, fmt::format("{}: must be a number", fieldPath(path, key)));
    return std::nullopt;
  }
  if (out < min || out > max) {
    fail(v, fmt::format("{}: {} is out of range [{}, {}]", fieldPath(path, key), out, min, max));
    return std::nullopt;
  }
  return out;
}

std::optional<bool> FieldReader::boolean(const YAML::Node& map, std::string_view key,
                                         std::string_view path) {
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) return std::nullopt;
  bool out = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) {
    fail(v, fmt::format("{}: must be true or false", fieldPath(path, key)));
    return std::nullopt;
  }
  return out;
}

std::vector<YAML::Node> FieldReader::list(const YAML::Node& map, std::string_view key,
                                          std::string_view path, bool required) {
  std::vector<YAML::Node> out;
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) {
    if (required) fail(map, fmt::format("missing required field {}", fieldPath(path, key)));
    return out;
  }
  if (!v.IsSequence()) {
    fail(v, fmt::format("{}: must be a list, got {}", fieldPath(path, key), typeName(v)));
    return out;
  }
  for (const auto& item : v) out.push_back(item);
  return out;
}

std::vector<std::string> FieldReader::stringList(const YAML::Node& map, std::string_view key,
                                                 std::string_view path) {
  std::vector<std::string> out;
  const std::string base = fieldPath(path, key);
  const auto items = list(map, key, path);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].IsScalar()) {
      fail(items[i], fmt::format("{}: must be a string", fieldPath(base, i)));
      continue;
    }
    out.push_back(items[i].Scalar());
  }
  return out;
}

std::map<std::string, std::string> FieldReader::stringMap(const YAML::Node& map,
                                                          std::string_view key,
                                                          std::string_view path) {
  std::map<std::string, std::string> out;
  const YAML::Node v = isMap(map) ? child(map, key) : YAML::Node();
  if (!present(v)) return out;
  const std::string base = fieldPath(path, key);
  if (!isMap(v)) {
    fail(v, fmt::format("{}: must be a map, got {}", base, typeName(v)));
    return out;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (it->second.IsNull()) {
      out[k] = "";
    } else if (!it->second.IsScalar()) {
      fail(it->second, fmt::format("{}: must be a string", fieldPath(base, k)));
    } else {
      out[k] = it->second.Scalar();
    }
  }
  return out;
}

std::optional<uint32_t> FieldReader::port(const YAML::Node& value, std::string_view path) {
  auto p = integerValue(value, path, 1, 65535);
  if (!p) return std::nullopt;
  return static_cast<uint32_t>(*p);
}

}  // namespace ambit::config
