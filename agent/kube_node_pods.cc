#include "agent/kube_node_pods.h"

#include "common/log.h"

namespace ambit::agent {

using json = nlohmann::json;

namespace {

const kube::ResourceType kPods{"", "v1", "pods", "Pod", true};

// object[field] if it is an object, else nullptr (absent or wrong type).
const json* child(const json& object, const char* field) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(field);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

// A string field: "" when absent; an error when present with another type.
Result<std::string> stringField(const json& object, const char* parent, const char* field) {
  const json* v = child(object, field);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return makeError("{}.{}: expected a string", parent, field);
  return v->get<std::string>();
}

Status parseIps(const json& status, NodePod& pod) {
  std::vector<std::string> texts;
  if (const json* list = child(status, "podIPs")) {
    if (!list->is_array()) return makeError("status.podIPs: expected a list");
    for (const auto& entry : *list) {
      auto ip = stringField(entry, "status.podIPs[]", "ip");
      if (!ip) return ip.error();
      if (!ip->empty()) texts.push_back(*ip);
    }
  }
  if (texts.empty()) {
    auto ip = stringField(status, "status", "podIP");
    if (!ip) return ip.error();
    if (!ip->empty()) texts.push_back(*ip);
  }
  for (const auto& text : texts) {
    auto ip = bpf::IpAddr::parse(text);
    if (!ip) return makeError("status.podIPs: '{}' is not an IP address", text);
    if (std::find(pod.ips.begin(), pod.ips.end(), *ip) == pod.ips.end()) pod.ips.push_back(*ip);
  }
  return Status::ok();
}

}  // namespace

Result<NodePod> parseNodePod(const json& object) {
  if (!object.is_object()) return makeError("a Pod must be a JSON object");
  const json* meta = child(object, "metadata");
  if (meta == nullptr || !meta->is_object()) return makeError("metadata: missing");
  NodePod pod;
  auto uid = stringField(*meta, "metadata", "uid");
  if (!uid) return uid.error();
  auto ns = stringField(*meta, "metadata", "namespace");
  if (!ns) return ns.error();
  auto name = stringField(*meta, "metadata", "name");
  if (!name) return name.error();
  if (uid->empty()) return makeError("metadata.uid: missing");
  if (ns->empty() || name->empty()) return makeError("metadata.namespace/name: missing");
  pod.uid = *uid;
  pod.name_space = *ns;
  pod.name = *name;
  pod.deleting = child(*meta, "deletionTimestamp") != nullptr;
  if (const json* labels = child(*meta, "labels")) {
    if (!labels->is_object()) return makeError("metadata.labels: expected a map");
    for (const auto& [k, v] : labels->items()) {
      if (!v.is_string()) return makeError("metadata.labels[{}]: expected a string", k);
      pod.labels[k] = v.get<std::string>();
    }
  }
  static const json kEmpty = json::object();
  const json* spec = child(object, "spec");
  if (spec == nullptr) spec = &kEmpty;
  auto node = stringField(*spec, "spec", "nodeName");
  if (!node) return node.error();
  pod.node = *node;
  if (const json* host = child(*spec, "hostNetwork")) {
    if (!host->is_boolean()) return makeError("spec.hostNetwork: expected true or false");
    pod.host_network = host->get<bool>();
  }
  const json* status = child(object, "status");
  if (status == nullptr) status = &kEmpty;
  auto phase = stringField(*status, "status", "phase");
  if (!phase) return phase.error();
  pod.phase = *phase;
  auto qos_text = stringField(*status, "status", "qosClass");
  if (!qos_text) return qos_text.error();
  auto qos = parseQosClass(*qos_text);
  if (!qos) return qos.error().context("status.qosClass");
  pod.qos = *qos;
  AMBIT_TRY(parseIps(*status, pod));
  return pod;
}

KubeNodePods::KubeNodePods(kube::ApiClient& client, std::string node, ChangeFn on_change,
                           kube::ReflectorOptions options)
    : node_(std::move(node)),
      on_change_(std::move(on_change)),
      reflector_(client, kPods, *this, [&] {
        options.field_selector = "spec.nodeName=" + node_;
        return options;
      }()) {}

std::optional<NodePod> KubeNodePods::pod(const std::string& uid) const {
  auto k = keys_.find(uid);
  if (k == keys_.end()) return std::nullopt;
  return by_key_.at(k->second);
}

std::vector<NodePod> KubeNodePods::pods() const {
  std::vector<NodePod> out;
  for (const auto& [key, pod] : by_key_) out.push_back(pod);
  return out;
}

void KubeNodePods::onUpsert(const kube::ResourceType&, const json& object) {
  auto parsed = parseNodePod(object);
  if (parsed && parsed->node != node_) {
    parsed = makeError("spec.nodeName: '{}', not this node ({})", parsed->node, node_);
  }
  if (!parsed) {
    ++stats_.rejected;
    stats_.last_rejection =
        fmt::format("pod {}: {}", kube::objectKey(object), parsed.error().message);
    logWarn("node pods: rejected {} (its last good version, if any, stays)", stats_.last_rejection);
    return;
  }
  std::string key = parsed->key();
  std::string uid = parsed->uid;
  auto old = by_key_.find(key);
  std::string old_uid;
  if (old != by_key_.end()) {
    if (old->second == *parsed) return;
    old_uid = old->second.uid;
  }
  if (!old_uid.empty() && old_uid != uid) {  // same name, a new pod (e.g. a StatefulSet's)
    keys_.erase(old_uid);
    if (on_change_) on_change_(old_uid);
  }
  keys_[uid] = key;
  by_key_[key] = std::move(*parsed);
  if (on_change_) on_change_(uid);
}

void KubeNodePods::onDelete(const kube::ResourceType&, const json& object) {
  // A delete found by a relist carries only the name: look the pod up by key.
  auto it = by_key_.find(kube::objectKey(object));
  if (it == by_key_.end()) return;
  std::string uid = it->second.uid;
  keys_.erase(uid);
  by_key_.erase(it);
  if (on_change_) on_change_(uid);
}

void KubeNodePods::onSynced(const kube::ResourceType&) {
  logInfo("node pods: {} pods on node {}", by_key_.size(), node_);
  if (on_change_) on_change_("");
}

}  // namespace ambit::agent
