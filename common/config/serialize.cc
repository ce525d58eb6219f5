#include "common/config/serialize.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace ambit::config {
namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << YAML::DoubleQuoted << j.get<std::string>();
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number()) {
    out << j.get<double>();
  } else {
    out << YAML::Null;
  }
}

}  // namespace

Result<std::string> snapshotToJson(const v1::MeshSnapshot& snapshot) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(snapshot, &out, opts);
  if (!status.ok()) return makeError("snapshot to JSON: {}", status.ToString());
  return out;
}

Result<std::string> snapshotToYaml(const v1::MeshSnapshot& snapshot) {
  auto json = snapshotToJson(snapshot);
  AMBIT_TRY(json);
  const auto parsed = nlohmann::ordered_json::parse(json.value(), nullptr, false);
  if (parsed.is_discarded()) return makeError("snapshot to YAML: JSON did not parse");
  YAML::Emitter out;
  emit(out, parsed);
  if (!out.good()) return makeError("snapshot to YAML: {}", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace ambit::config
