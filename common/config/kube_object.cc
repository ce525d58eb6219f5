#include "common/config/kube_object.h"

#include <fmt/format.h>

#include "common/config/field_reader.h"
#include "common/config/model.h"

namespace ambit::config {
namespace {

std::string stringMember(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string kubeObjectFile(std::string_view kind, std::string_view ns, std::string_view name) {
  if (ns.empty()) return fmt::format("kubernetes:{} {}", kind, name);
  return fmt::format("kubernetes:{} {}/{}", kind, ns, name);
}

YAML::Node jsonToYaml(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      YAML::Node out(YAML::NodeType::Map);
      for (const auto& [k, v] : value.items()) out[k] = jsonToYaml(v);
      return out;
    }
    case nlohmann::json::value_t::array: {
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& v : value) out.push_back(jsonToYaml(v));
      return out;
    }
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return YAML::Node(YAML::NodeType::Null);
    case nlohmann::json::value_t::string:
      return YAML::Node(value.get_ref<const std::string&>());
    default:
      return YAML::Node(value.dump());
  }
}

std::optional<Resource> kubeObjectResource(const nlohmann::json& object, ConfigErrors& errors,
                                           std::string_view kind, std::string_view api_version) {
  const std::string k = object.is_object() && !stringMember(object, "kind").empty()
                            ? stringMember(object, "kind")
                            : std::string(kind);
  const nlohmann::json* meta = nullptr;
  if (object.is_object()) {
    auto it = object.find("metadata");
    if (it != object.end() && it->is_object()) meta = &*it;
  }
  const std::string name = meta != nullptr ? stringMember(*meta, "name") : std::string();
  const std::string ns = meta != nullptr ? stringMember(*meta, "namespace") : std::string();
  Resource r;
  r.file = kubeObjectFile(k.empty() ? "object" : k, ns, name.empty() ? "<unnamed>" : name);
  if (!object.is_object()) {
    errors.push_back(ConfigError{r.file, 0, 0, "", "API object must be a JSON object"});
    return std::nullopt;
  }
  r.doc = YAML::Node(YAML::NodeType::Map);
  const bool pod = k == "Pod";
  for (const auto& [key, v] : object.items()) {
    const bool pruned = key == "metadata" || (pod && (key == "spec" || key == "status"));
    if (!pruned || !v.is_object()) {
      r.doc[key] = jsonToYaml(v);
      continue;
    }
    YAML::Node section(YAML::NodeType::Map);
    for (const auto& [field, value] : v.items()) {
      if (key == "metadata" && field == "managedFields") continue;
      const bool read = key == "metadata" || podReadsField(key, field);
      section[field] = read ? jsonToYaml(value) : YAML::Node(YAML::NodeType::Null);
    }
    r.doc[key] = section;
  }
  if (!child(r.doc, "kind").IsDefined() && !kind.empty()) r.doc["kind"] = std::string(kind);
  if (!child(r.doc, "apiVersion").IsDefined() && !api_version.empty())
    r.doc["apiVersion"] = std::string(api_version);
  if (!identifyResource(r, errors)) return std::nullopt;
  return r;
}

}  // namespace ambit::config
