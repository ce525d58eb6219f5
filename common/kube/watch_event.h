#pragma once
// Decoding what the API server sends on a watch and in error answers, and naming resources.
// Every decoder takes untrusted bytes and returns an error naming what is wrong; none throws.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ambit::kube {

// A Kubernetes resource type as the REST API names it.
struct ResourceType {
  std::string group;     // "" for the core group
  std::string version;   // v1, v1beta1, ...
  std::string resource;  // plural: pods, authorizationpolicies
  std::string kind;      // Pod, AuthorizationPolicy
  bool namespaced = true;

  // "/api/v1/pods" or "/apis/security.istio.io/v1/authorizationpolicies"; with a namespace,
  // the namespaced collection.
  std::string collectionPath(std::string_view ns = {}) const;
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "pods", "authorizationpolicies.security.istio.io" (for messages and metrics)
  std::string qualifiedName() const { return group.empty() ? resource : resource + "." + group; }
};

// The metav1.Status the API server sends for failures (HTTP error bodies, watch ERROR events).
struct ApiStatus {
  int code = 0;         // HTTP status code, e.g. 410
  std::string reason;   // "Expired", "Gone", "NotFound", "Forbidden", ...
  std::string message;  // human text from the server
};

// Parses a Status object; anything that is not one yields code 0 and the raw text as message.
ApiStatus parseStatus(std::string_view body);

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  nlohmann::json object;         // the object (for kError: a Status)
  std::string resource_version;  // object.metadata.resourceVersion ("" for kError)
  std::string key;               // "<namespace>/<name>" or "<name>" ("" for kError, kBookmark)
};

// Decodes one line of a watch stream: {"type": ..., "object": {...}}. Objects must carry
// metadata.name (except bookmarks) and metadata.resourceVersion (except errors).
Result<WatchEvent> decodeWatchEvent(std::string_view line);

// "<namespace>/<name>" or "<name>" for a cluster-scoped object; "" when metadata.name is missing.
std::string objectKey(const nlohmann::json& object);
// metadata.resourceVersion, "" when missing.
std::string resourceVersionOf(const nlohmann::json& object);

}  // namespace ambit::kube
