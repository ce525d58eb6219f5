#include "cli/waypoint.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cli/lab/state.h"
#include "cli/table.h"

namespace ambit::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

bool isDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// YAML node -> JSON (scalars stay strings but for the port, which is all the listing needs).
json toJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = toJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(toJson(item));
      return a;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();
    default:
      return nullptr;
  }
}

std::vector<fs::path> yamlFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<YAML::Node> loadDocuments(const fs::path& file) {
  try {
    return YAML::LoadAllFromFile(file.string());
  } catch (const YAML::Exception&) {
    return {};
  }
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Status validateWaypointSpec(const WaypointSpec& spec) {
  if (!isDnsLabel(spec.name)) {
    return makeError("--name '{}': a waypoint name is a DNS label (1-63 of [a-z0-9-])", spec.name);
  }
  if (!isDnsLabel(spec.namespace_name)) {
    return makeError("--namespace '{}': not a valid namespace name", spec.namespace_name);
  }
  static const std::vector<std::string> kTypes = {"service", "workload", "all", "none"};
  if (std::find(kTypes.begin(), kTypes.end(), spec.traffic_type) == kTypes.end()) {
    return makeError("--for '{}': use service, workload, all or none", spec.traffic_type);
  }
  return Status::ok();
}

json gatewayObject(const WaypointSpec& spec) {
  return {{"apiVersion", "gateway.networking.k8s.io/v1"},
          {"kind", "Gateway"},
          {"metadata",
           {{"name", spec.name},
            {"namespace", spec.namespace_name},
            {"labels", {{kWaypointForLabel, spec.traffic_type}}}}},
          {"spec",
           {{"gatewayClassName", "istio-waypoint"},
            {"listeners", {{{"name", "mesh"}, {"port", 15008}, {"protocol", "HBONE"}}}}}}};
}

std::string gatewayYaml(const WaypointSpec& spec) { return renderYaml(gatewayObject(spec)); }

bool waypointFromObject(const json& o, WaypointInfo& out) {
  if (!o.is_object() || o.value("kind", "") != "Gateway") return false;
  const json spec = o.value("spec", json::object());
  std::string cls = spec.is_object() ? spec.value("gatewayClassName", "") : "";
  if (cls != "istio-waypoint" && cls != "ambit-waypoint") return false;
  const json meta = o.value("metadata", json::object());
  if (!meta.is_object()) return false;
  out.name = meta.value("name", "");
  out.namespace_name = meta.value("namespace", "default");
  out.gateway_class = cls;
  const json labels = meta.value("labels", json::object());
  // Istio's default when the label is absent.
  out.traffic_type = labels.is_object() ? labels.value(kWaypointForLabel, "service") : "service";
  if (auto st = o.find("status"); st != o.end() && st->is_object()) out.status = *st;
  return true;
}

std::vector<WaypointInfo> listLocalWaypoints(const fs::path& dir,
                                             const std::string& namespace_name) {
  std::vector<WaypointInfo> out;
  for (const auto& file : yamlFiles(dir)) {
    for (const auto& doc : loadDocuments(file)) {
      WaypointInfo w;
      if (!doc.IsMap() || !waypointFromObject(toJson(doc), w)) continue;
      if (!namespace_name.empty() && w.namespace_name != namespace_name) continue;
      w.file = file.string();
      out.push_back(std::move(w));
    }
  }
  return out;
}

fs::path localWaypointFile(const fs::path& dir, const WaypointSpec& spec) {
  return dir / ("waypoint-" + spec.namespace_name + "-" + spec.name + ".yaml");
}

Status applyLocalWaypoint(const fs::path& dir, const WaypointSpec& spec) {
  AMBIT_TRY(validateWaypointSpec(spec));
  const fs::path ours = localWaypointFile(dir, spec);
  for (const auto& w : listLocalWaypoints(dir, spec.namespace_name)) {
    if (w.name == spec.name && fs::path(w.file) != ours) {
      return makeError("Gateway {}/{} is already declared in {}; edit or remove it there",
                       spec.namespace_name, spec.name, w.file);
    }
  }
  // The daemons read only *.yaml/*.yml: the temp file (<file>.tmp) is invisible until renamed.
  return lab::writeFileAtomic(ours.string(), gatewayYaml(spec));
}

Status deleteLocalWaypoint(const fs::path& dir, const WaypointSpec& spec) {
  const fs::path ours = localWaypointFile(dir, spec);
  std::error_code ec;
  if (fs::remove(ours, ec)) return Status::ok();
  if (ec) return makeError("remove {}: {}", ours.string(), ec.message());
  for (const auto& w : listLocalWaypoints(dir, spec.namespace_name)) {
    if (w.name == spec.name) {
      return makeError(
          "Gateway {}/{} is declared in {}, which ambitctl did not write; remove it "
          "there",
          spec.namespace_name, spec.name, w.file);
    }
  }
  return makeError("no waypoint {} in namespace {} (nothing in {})", spec.name, spec.namespace_name,
                   dir.string());
}

Status enrollLocalNamespace(const fs::path& dir, const WaypointSpec& spec) {
  for (const auto& file : yamlFiles(dir)) {
    std::vector<YAML::Node> docs = loadDocuments(file);
    bool found = false;
    for (auto& doc : docs) {
      if (!doc.IsMap() || !doc["kind"] || doc["kind"].as<std::string>() != "Namespace") continue;
      auto meta = doc["metadata"];
      if (!meta || !meta["name"] || meta["name"].as<std::string>() != spec.namespace_name) {
        continue;
      }
      meta["labels"][kUseWaypointLabel] = spec.name;
      found = true;
    }
    if (!found) continue;
    YAML::Emitter e;
    for (const auto& doc : docs) e << doc;
    std::string text = std::string(e.c_str()) + "\n";
    if (text == readFile(file)) return Status::ok();
    return lab::writeFileAtomic(file.string(), text);
  }
  return makeError("--enroll-namespace: no file in {} declares Namespace {}", dir.string(),
                   spec.namespace_name);
}

}  // namespace ambit::cli
