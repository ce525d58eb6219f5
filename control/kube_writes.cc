#include "control/kube_writes.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>

namespace ambit::control {
namespace {

namespace http = boost::beast::http;

constexpr size_t kMaxNote = 1024;  // the API server's limit for Event notes
constexpr int kConflictRetries = 3;

std::string objectPath(const kube::ResourceType& type, const std::string& ns,
                       const std::string& name) {
  return type.collectionPath(type.namespaced ? ns : "") + "/" + name;
}

std::string describe(const kube::ResourceType& type, const std::string& ns,
                     const std::string& name) {
  return ns.empty() ? fmt::format("{} {}", type.kind, name)
                    : fmt::format("{} {}/{}", type.kind, ns, name);
}

Error httpError(const std::string& what, const kube::ApiResponse& r) {
  auto st = kube::parseStatus(r.body);
  return makeError("{}: HTTP {}: {}", what, r.status, st.message.substr(0, 300));
}

// Copies the managed parts of `desired` over `current`; true when anything changed.
bool merge(nlohmann::json& current, const nlohmann::json& desired) {
  bool changed = false;
  for (const auto& [k, v] : desired.items()) {
    if (k == "metadata" || k == "status") continue;
    if (current[k] != v) {
      current[k] = v;
      changed = true;
    }
  }
  for (const char* k : {"labels", "annotations", "ownerReferences"}) {
    auto want = desired["metadata"].find(k);
    if (want == desired["metadata"].end()) continue;
    if (current["metadata"][k] != *want) {
      current["metadata"][k] = *want;
      changed = true;
    }
  }
  return changed;
}

// RFC 3339 with microseconds, as metav1.MicroTime wants.
std::string microTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) %
            std::chrono::seconds(1);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z",
                     std::chrono::time_point_cast<std::chrono::seconds>(now), us.count());
}

}  // namespace

boost::asio::awaitable<Result<bool>> ensureObject(kube::ApiClient& api,
                                                  const kube::ResourceType& type,
                                                  const nlohmann::json& desired) {
  const std::string name = desired["metadata"].value("name", std::string());
  const std::string ns = desired["metadata"].value("namespace", std::string());
  const std::string what = describe(type, ns, name);
  if (name.empty()) co_return makeError("{}: desired object has no metadata.name", type.kind);
  // Every argument of a co_await is a named local: GCC 12 mis-destroys temporaries there.
  const std::string path = objectPath(type, ns, name);
  const std::string collection = type.collectionPath(type.namespaced ? ns : "");
  const std::string body = desired.dump();
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    auto got = co_await api.request(http::verb::get, path);
    if (!got) co_return got.error().context(what);
    bool conflict = false;
    if (got->status == 404) {
      auto created = co_await api.request(http::verb::post, collection, body);
      if (!created) co_return created.error().context(what);
      conflict = created->status == 409;  // created meanwhile: compare with it
      if (!conflict && created->status != 201 && created->status != 200) {
        co_return httpError("create " + what, *created);
      }
      if (!conflict) co_return true;
    } else {
      if (got->status != 200) co_return httpError("get " + what, *got);
      auto current = nlohmann::json::parse(got->body, nullptr, false);
      if (current.is_discarded()) co_return makeError("get {}: answer is not JSON", what);
      if (!merge(current, desired)) co_return false;
      const std::string update = current.dump();
      auto put = co_await api.request(http::verb::put, path, update);
      if (!put) co_return put.error().context(what);
      conflict = put->status == 409;  // changed under us: read again
      if (!conflict && put->status != 200 && put->status != 201) {
        co_return httpError("update " + what, *put);
      }
      if (!conflict) co_return true;
    }
  }
  co_return makeError("{}: still conflicting after {} attempts", what, kConflictRetries);
}

boost::asio::awaitable<Status> deleteObject(kube::ApiClient& api, const kube::ResourceType& type,
                                            const std::string& ns, const std::string& name) {
  const std::string what = describe(type, ns, name);
  const std::string path = objectPath(type, ns, name);
  auto resp = co_await api.request(http::verb::delete_, path);
  if (!resp) co_return resp.error().context(what);
  if (resp->status == 404 || resp->status == 200 || resp->status == 202) co_return Status::ok();
  co_return httpError("delete " + what, *resp);
}

EventRecorder::EventRecorder(kube::ApiClient& api, std::string controller, std::string instance)
    : api_(api), controller_(std::move(controller)), instance_(std::move(instance)) {}

void EventRecorder::forget(const std::string& uid) {
  auto it = seen_.lower_bound(uid + '\0');
  while (it != seen_.end() && it->starts_with(uid + '\0')) it = seen_.erase(it);
}

boost::asio::awaitable<Status> EventRecorder::record(const nlohmann::json& object, std::string type,
                                                     std::string reason, std::string note) {
  const auto& meta = object["metadata"];
  const std::string uid = meta.value("uid", std::string());
  const std::string name = meta.value("name", std::string());
  std::string ns = meta.value("namespace", std::string());
  if (note.size() > kMaxNote) note = note.substr(0, kMaxNote - 3) + "...";
  const std::string dedup = uid + '\0' + reason + '\0' + note;
  if (seen_.count(dedup) > 0) co_return Status::ok();
  // Events of cluster-scoped objects go to "default", as the API server's own do.
  if (ns.empty()) ns = "default";
  nlohmann::json event = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata",
       {{"name",
         fmt::format("{}.{:x}", name, std::chrono::system_clock::now().time_since_epoch().count())},
        {"namespace", ns}}},
      {"eventTime", microTimeNow()},
      {"reportingController", controller_},
      {"reportingInstance", instance_},
      {"action", "Translate"},
      {"reason", reason},
      {"type", type},
      {"note", note},
      {"regarding",
       {{"apiVersion", object.value("apiVersion", std::string())},
        {"kind", object.value("kind", std::string())},
        {"name", name},
        {"namespace", meta.value("namespace", std::string())},
        {"uid", uid},
        {"resourceVersion", meta.value("resourceVersion", std::string())}}}};
  auto resp = co_await api_.request(http::verb::post,
                                    fmt::format("/apis/events.k8s.io/v1/namespaces/{}/events", ns),
                                    event.dump());
  if (!resp) co_return resp.error().context("record Event on " + name);
  if (resp->status != 201 && resp->status != 200) {
    co_return httpError("record Event on " + name, *resp);
  }
  seen_.insert(dedup);
  ++recorded_;
  co_return Status::ok();
}

}  // namespace ambit::control
