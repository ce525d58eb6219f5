#include "common/kube/watch_event.h"

#include <fmt/format.h>

namespace ambit::kube {

using json = nlohmann::json;

std::string ResourceType::collectionPath(std::string_view ns) const {
  std::string base = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ns.empty() && namespaced) base += fmt::format("/namespaces/{}", ns);
  return base + "/" + resource;
}

namespace {

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string stringMember(const json& j, const char* key) {
  const json* v = member(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace

std::string objectKey(const json& object) {
  const json* meta = member(object, "metadata");
  if (!meta) return {};
  std::string name = stringMember(*meta, "name");
  if (name.empty()) return {};
  std::string ns = stringMember(*meta, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

std::string resourceVersionOf(const json& object) {
  const json* meta = member(object, "metadata");
  return meta ? stringMember(*meta, "resourceVersion") : std::string();
}

ApiStatus parseStatus(std::string_view body) {
  ApiStatus s;
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || stringMember(j, "kind") != "Status") {
    s.message = std::string(body.substr(0, 512));
    return s;
  }
  if (const json* c = member(j, "code"); c && c->is_number_integer()) s.code = c->get<int>();
  s.reason = stringMember(j, "reason");
  s.message = stringMember(j, "message");
  return s;
}

Result<WatchEvent> decodeWatchEvent(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("watch event is not JSON");
  if (!j.is_object()) return makeError("watch event is not a JSON object");
  WatchEvent ev;
  const std::string type = stringMember(j, "type");
  if (type == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return makeError("watch event has unknown type '{}'", type.substr(0, 64));
  }
  auto it = j.find("object");
  if (it == j.end() || !it->is_object()) return makeError("{} watch event has no object", type);
  ev.object = std::move(*it);
  if (ev.type == WatchEvent::Type::kError) return ev;
  ev.resource_version = resourceVersionOf(ev.object);
  if (ev.resource_version.empty())
    return makeError("{} watch event: object has no metadata.resourceVersion", type);
  if (ev.type == WatchEvent::Type::kBookmark) return ev;
  ev.key = objectKey(ev.object);
  if (ev.key.empty()) return makeError("{} watch event: object has no metadata.name", type);
  return ev;
}

}  // namespace ambit::kube
