#include "common/config/kube_pod.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <span>

#include "common/config/kube_object.h"
#include "common/config/model.h"
#include "common/config/resource.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

using json = nlohmann::json;
constexpr std::string_view kPod = "Pod";

// A member of a JSON object, nullptr when `map` is no object or lacks it.
const json* member(const json* map, std::string_view key) {
  if (map == nullptr || !map->is_object()) return nullptr;
  auto it = map->find(key);
  return it == map->end() ? nullptr : &*it;
}

bool present(const json* v) { return v != nullptr && !v->is_null(); }
bool isScalar(const json& v) { return !v.is_object() && !v.is_array() && !v.is_null(); }

// The text the YAML path sees for a scalar (jsonToYaml): strings as they are, the rest printed.
std::string scalarText(const json& v) {
  return v.is_string() ? v.get_ref<const std::string&>() : v.dump();
}

const char* typeName(const json& v) {
  if (v.is_object()) return "a map";
  if (v.is_array()) return "a list";
  if (v.is_null()) return "null";
  return "a scalar";
}

std::string stringMember(const json* map, std::string_view key) {
  const json* v = member(map, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

// FieldReader (field_reader.h) over JSON: the same checks and messages. API objects have no
// lines, so every problem is at line 0, as on the YAML copy of one.
class JsonFields {
 public:
  JsonFields(std::string file, ConfigErrors& errors) : file_(std::move(file)), errors_(errors) {}

  void setObject(std::string object) { object_ = std::move(object); }
  const std::string& file() const { return file_; }
  void fail(std::string reason) {
    errors_.push_back(ConfigError{file_, 0, 0, object_, std::move(reason)});
  }

  bool checkFields(const json* node, std::string_view path,
                   std::span<const std::string_view> allowed) {
    if (!present(node)) return true;
    if (!node->is_object()) {
      fail(fmt::format("{}: must be a map, got {}", path, typeName(*node)));
      return false;
    }
    for (const auto& [key, value] : node->items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        fail(fmt::format("unknown field {}", fieldPath(path, key)));
      }
    }
    return true;
  }

  std::optional<std::string> str(const json* map, std::string_view key, std::string_view path,
                                 bool required = false) {
    const json* v = member(map, key);
    if (!present(v)) {
      if (required) fail(fmt::format("missing required field {}", fieldPath(path, key)));
      return std::nullopt;
    }
    if (!isScalar(*v)) {
      fail(fmt::format("{}: must be a string, got {}", fieldPath(path, key), typeName(*v)));
      return std::nullopt;
    }
    return scalarText(*v);
  }

  // FieldReader::integer() over JSON: YAML's reading of the scalar, the same messages.
  std::optional<int64_t> integer(const json* map, std::string_view key, std::string_view path,
                                 int64_t min, int64_t max, bool required = false) {
    const json* v = member(map, key);
    const std::string p = fieldPath(path, key);
    if (!present(v)) {
      if (required) fail(fmt::format("missing required field {}", p));
      return std::nullopt;
    }
    int64_t out = 0;
    if (!isScalar(*v) || !YAML::convert<int64_t>::decode(YAML::Node(scalarText(*v)), out)) {
      const std::string got =
          isScalar(*v) ? fmt::format("'{}'", scalarText(*v)) : std::string(typeName(*v));
      fail(fmt::format("{}: must be an integer, got {}", p, got));
      return std::nullopt;
    }
    if (out < min || out > max) {
      fail(fmt::format("{}: {} is out of range [{}, {}]", p, out, min, max));
      return std::nullopt;
    }
    return out;
  }

  std::optional<bool> boolean(const json* map, std::string_view key, std::string_view path) {
    const json* v = member(map, key);
    if (!present(v)) return std::nullopt;
    bool out = false;
    // YAML's reading of the scalar, as the YAML path does ("yes", "on", "True" are true).
    if (!isScalar(*v) || !YAML::convert<bool>::decode(YAML::Node(scalarText(*v)), out)) {
      fail(fmt::format("{}: must be true or false", fieldPath(path, key)));
      return std::nullopt;
    }
    return out;
  }

  // The list's items, nullptr when absent or (with an error) not a list.
  const json* list(const json* map, std::string_view key, std::string_view path) {
    const json* v = member(map, key);
    if (!present(v)) return nullptr;
    if (!v->is_array()) {
      fail(fmt::format("{}: must be a list, got {}", fieldPath(path, key), typeName(*v)));
      return nullptr;
    }
    return v;
  }

  std::map<std::string, std::string> stringMap(const json* map, std::string_view key,
                                               std::string_view path) {
    std::map<std::string, std::string> out;
    const json* v = member(map, key);
    if (!present(v)) return out;
    const std::string base = fieldPath(path, key);
    if (!v->is_object()) {
      fail(fmt::format("{}: must be a map, got {}", base, typeName(*v)));
      return out;
    }
    for (const auto& [k, value] : v->items()) {
      if (value.is_null()) {
        out[k] = "";
      } else if (!isScalar(value)) {
        fail(fmt::format("{}: must be a string", fieldPath(base, k)));
      } else {
        out[k] = scalarText(value);
      }
    }
    return out;
  }

 private:
  std::string file_;
  std::string object_;
  ConfigErrors& errors_;
};

std::string podObject(const std::string& ns, const std::string& name) {
  return ns.empty() ? fmt::format("{} {}", kPod, name) : fmt::format("{} {}/{}", kPod, ns, name);
}

// identifyResource() and translateResource()'s admission for a Pod: nullopt when it cannot be
// identified, not `admitted` when it must not be translated (its problems recorded either way).
struct PodIdentity {
  std::string api_version, name, ns;
  bool admitted = false;
};

std::optional<PodIdentity> identifyPod(const json& object, std::string_view api_version,
                                       JsonFields& reader) {
  reader.setObject(std::string(kPod));
  const json* api_member = member(&object, "apiVersion");
  std::optional<std::string> api;
  if (api_member == nullptr && !api_version.empty()) {
    api = std::string(api_version);
  } else {
    api = reader.str(&object, "apiVersion", "", true);
  }
  const json* meta = member(&object, "metadata");
  std::optional<std::string> name, ns;
  if (!present(meta)) {
    reader.fail("missing required field metadata");
  } else if (reader.checkFields(meta, "metadata", kMetadataFields)) {
    name = reader.str(meta, "name", "metadata", true);
    ns = reader.str(meta, "namespace", "metadata");
  }
  if (!api || !name) return std::nullopt;
  PodIdentity id{*api, *name, ns.value_or("default")};
  reader.setObject(podObject(id.ns, id.name));
  if (id.api_version != "v1") {
    reader.fail(
        fmt::format("unsupported apiVersion '{}' for Pod, expected one of: v1", id.api_version));
    return id;
  }
  bool ok = true;
  if (auto bad = checkResourceName(id.name)) {
    reader.fail(fmt::format("metadata.name: {}", *bad));
    ok = false;
  }
  if (auto bad = id.ns.empty() ? std::nullopt : checkResourceName(id.ns)) {
    reader.fail(fmt::format("metadata.namespace: {}", *bad));
    ok = false;
  }
  if (!ok) return id;
  reader.checkFields(&object, "", kTopLevelFields);
  id.admitted = true;
  return id;
}

std::map<std::string, std::string> readLabels(const json* meta, JsonFields& reader) {
  auto labels = reader.stringMap(meta, "labels", "metadata");
  for (const auto& [k, v] : labels) {
    if (auto bad = checkLabelKey(k)) reader.fail(fmt::format("metadata.labels: {}", *bad));
    if (auto bad = checkLabelValue(v)) reader.fail(fmt::format("metadata.labels: {}", *bad));
  }
  return labels;
}

void readPodIps(const json* status, JsonFields& reader, bool host_network, KubePod& pod) {
  std::vector<std::string> ips;
  if (auto ip = reader.str(status, "podIP", "status")) ips.push_back(*ip);
  if (const json* list = reader.list(status, "podIPs", "status")) {
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto ip = reader.str(&(*list)[i], "ip", fieldPath("status.podIPs", i), true)) {
        ips.push_back(*ip);
      }
    }
  }
  v1::Workload& w = *pod.workload;
  for (const std::string& text : ips) {
    const auto ip = parseIp(text);
    if (!ip) {
      reader.fail(fmt::format("invalid pod IP '{}'", text));
      continue;
    }
    if (std::find(w.addresses().begin(), w.addresses().end(), *ip) != w.addresses().end()) {
      continue;
    }
    w.add_addresses(*ip);
    if (!host_network) pod.ips.push_back(*ip);
  }
}

// readPodServing() (translate_core.cc) over JSON.
void readPodServing(const json* meta, const json* spec, const json* status, JsonFields& reader,
                    v1::Workload& w) {
  bool ready = !present(member(status, "conditions"));
  if (const json* conditions = reader.list(status, "conditions", "status")) {
    for (size_t i = 0; i < conditions->size(); ++i) {
      const std::string p = fieldPath("status.conditions", i);
      const json* c = &(*conditions)[i];
      if (reader.str(c, "type", p).value_or("") == "Ready") {
        ready = reader.str(c, "status", p).value_or("") == "True";
      }
    }
  }
  w.set_not_ready(!ready || present(member(meta, "deletionTimestamp")));
  const json* containers = reader.list(spec, "containers", "spec");
  for (size_t i = 0; containers != nullptr && i < containers->size(); ++i) {
    const std::string container_path = fieldPath("spec.containers", i);
    const json* ports = reader.list(&(*containers)[i], "ports", container_path);
    const std::string ports_path = fieldPath(container_path, "ports");
    for (size_t j = 0; ports != nullptr && j < ports->size(); ++j) {
      const std::string p = fieldPath(ports_path, j);
      const json* port_entry = &(*ports)[j];
      const auto name = reader.str(port_entry, "name", p);
      if (!name || name->empty()) continue;
      if (auto port = reader.integer(port_entry, "containerPort", p, 1, 65535, true)) {
        (*w.mutable_named_ports())[*name] = static_cast<uint32_t>(*port);
      }
    }
  }
}

// translatePod() (translate_core.cc) over JSON.
void translate(const json& object, const LoaderOptions& options, JsonFields& reader, KubePod& pod) {
  const json* meta = member(&object, "metadata");
  const json* spec = member(&object, "spec");
  const json* status = member(&object, "status");
  reader.checkFields(spec, "spec", kPodSpecFields);
  reader.checkFields(status, "status", kPodStatusFields);
  const std::string phase = reader.str(status, "phase", "status").value_or("");
  if (phase == "Succeeded" || phase == "Failed") return;
  v1::Workload& w = pod.workload.emplace();
  const auto uid = reader.str(meta, "uid", "metadata");
  w.set_uid(uid && !uid->empty() ? *uid : fmt::format("{}/{}", pod.ns, pod.name));
  w.set_name(pod.name);
  w.set_namespace_(pod.ns);
  w.set_trust_domain(options.trust_domain);
  w.set_node(reader.str(spec, "nodeName", "spec").value_or(""));
  w.set_service_account(
      reader.str(spec, "serviceAccountName", "spec")
          .value_or(reader.str(spec, "serviceAccount", "spec").value_or("default")));
  const auto labels = readLabels(meta, reader);
  for (const auto& problem : meshLabelProblems(labels)) reader.fail(problem.reason);
  w.mutable_labels()->insert(labels.begin(), labels.end());
  setCanonicalNames(labels, pod.name, w);
  const auto annotations = reader.stringMap(meta, "annotations", "metadata");
  for (const auto& problem : applyPodAnnotations(annotations, w)) reader.fail(problem.reason);
  const bool host_network = reader.boolean(spec, "hostNetwork", "spec").value_or(false);
  readPodIps(status, reader, host_network, pod);
  readPodServing(meta, spec, status, reader, w);
}

}  // namespace

bool isKubePod(const json& object, std::string_view kind) {
  if (!object.is_object()) return false;
  auto it = object.find("kind");
  if (it == object.end()) return kind == kPod;
  return it->is_string() && it->get_ref<const std::string&>() == kPod;
}

std::optional<KubePod> translateKubePod(const json& object, std::string_view api_version,
                                        const LoaderOptions& options, ConfigErrors& errors) {
  const json* meta = member(&object, "metadata");
  const std::string name = stringMember(meta, "name");
  JsonFields reader(
      kubeObjectFile(kPod, stringMember(meta, "namespace"), name.empty() ? "<unnamed>" : name),
      errors);
  auto id = identifyPod(object, api_version, reader);
  if (!id) return std::nullopt;
  KubePod pod;
  pod.ns = id->ns;
  pod.name = id->name;
  pod.object = podObject(id->ns, id->name);
  if (id->admitted) translate(object, options, reader, pod);
  return pod;
}

}  // namespace ambit::config
