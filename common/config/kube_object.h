#pragma once
// Kubernetes API objects as translator input: the JSON the kube-apiserver returns for an object
// (with metadata.uid, resourceVersion, managedFields, status, ...) becomes the Resource the kind
// translators of loader.h read, so the API path and the file path share one translator and give
// the same error messages. Errors name the object as "kubernetes:<Kind> <ns>/<name>", line 0.
//
// Thread-safety: pure functions.

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/config/config_error.h"
#include "common/config/resource.h"

namespace ambit::config {

// "kubernetes:Pod default/web-1", "kubernetes:Namespace demo": the `file` of an API object.
std::string kubeObjectFile(std::string_view kind, std::string_view ns, std::string_view name);

// The JSON value as a YAML node: objects → maps, arrays → sequences, null → null, every other
// value → a scalar holding its text (strings unquoted, numbers and booleans as JSON prints them).
YAML::Node jsonToYaml(const nlohmann::json& value);

// The Resource for one API object. `kind`/`api_version` fill in what the object lacks (items of
// a List response carry neither); the object's own values win. metadata.managedFields is dropped
// and, in a Pod's spec and status, the values of fields the translator never reads (containers,
// volumes, conditions, ...) become nulls: their keys stay for the unknown-field check, their
// content is not converted (most of a pod, and pods are most of a cluster). nullopt, with
// errors, when the object is not a JSON object or lacks kind, apiVersion or metadata.name.
std::optional<Resource> kubeObjectResource(const nlohmann::json& object, ConfigErrors& errors,
                                           std::string_view kind = {},
                                           std::string_view api_version = {});

}  // namespace ambit::config
