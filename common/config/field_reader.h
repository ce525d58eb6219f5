#pragma once
// Strict, error-collecting access to one resource's YAML. Every accessor checks the field's
// type and range and records a ConfigError (file, line, object, field path, reason) instead of
// throwing; callers keep going so one pass reports every problem in the resource.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_error.h"

namespace ambit::config {

// "spec" + "http" -> "spec.http"; "spec.http" + 2 -> "spec.http[2]".
std::string fieldPath(std::string_view parent, std::string_view key);
std::string fieldPath(std::string_view parent, size_t index);

// True when the node exists and is not an explicit YAML null.
bool present(const YAML::Node& node);
bool isMap(const YAML::Node& node);
// `node[key]` that never yields an invalid ("zombie") node: undefined when `node` is not a map
// or has no such key, so chained lookups and Mark() are always safe.
YAML::Node child(const YAML::Node& node, std::string_view key);

class FieldReader {
 public:
  // `errors` must outlive the reader. `fallback` gives the line for problems at missing nodes.
  FieldReader(std::string file, std::string object, const YAML::Node& fallback,
              ConfigErrors& errors);

  // Records a problem located at `at` (or at the resource itself when `at` has no mark).
  void fail(const YAML::Node& at, std::string reason);
  void setObject(std::string object) { object_ = std::move(object); }
  const std::string& object() const { return object_; }
  const std::string& file() const { return file_; }
  size_t errorCount() const { return errors_.size() - base_count_; }

  // Checks `node` is a map whose keys are all in `allowed`; unknown keys are reported with
  // their full path. Returns false only when `node` is present but not a map.
  bool checkFields(const YAML::Node& node, std::string_view path,
                   std::initializer_list<std::string_view> allowed);
  bool checkFields(const YAML::Node& node, std::string_view path,
                   std::span<const std::string_view> allowed);
  // Child `key` of `map` when present and a map (with `allowed` keys); undefined otherwise.
  YAML::Node object(const YAML::Node& map, std::string_view key, std::string_view path,
                    std::initializer_list<std::string_view> allowed);

  std::optional<std::string> str(const YAML::Node& map, std::string_view key, std::string_view path,
                                 bool required = false);
  std::optional<int64_t> integer(const YAML::Node& map, std::string_view key, std::string_view path,
                                 int64_t min, int64_t max, bool required = false);
  std::optional<int64_t> integerValue(const YAML::Node& value, std::string_view path, int64_t min,
                                      int64_t max);
  std::optional<double> number(const YAML::Node& map, std::string_view key, std::string_view path,
                               double min, double max);
  std::optional<bool> boolean(const YAML::Node& map, std::string_view key, std::string_view path);
  // Sequence children; empty when absent or (with an error) not a sequence.
  std::vector<YAML::Node> list(const YAML::Node& map, std::string_view key, std::string_view path,
                               bool required = false);
  std::vector<std::string> stringList(const YAML::Node& map, std::string_view key,
                                      std::string_view path);
  // A map of scalar values (labels, selectors, header sets).
  std::map<std::string, std::string> stringMap(const YAML::Node& map, std::string_view key,
                                               std::string_view path);
  // A port number given as an integer or a numeric string (AuthorizationPolicy uses strings).
  std::optional<uint32_t> port(const YAML::Node& value, std::string_view path);

 private:
  std::string file_;
  std::string object_;
  YAML::Node fallback_;
  ConfigErrors& errors_;
  size_t base_count_;
};

}  // namespace ambit::config
