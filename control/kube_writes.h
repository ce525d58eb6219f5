#pragma once
// The writes ambit-control makes to the API server, kept small and idempotent:
//   ensureObject  create, or bring an existing object's managed fields to the desired state
//                 (only when they differ, with the read resourceVersion: a conflict retries)
//   deleteObject  delete by name; already gone is fine
//   EventRecorder Kubernetes Events (events.k8s.io/v1) on an object, deduplicated per
//                 (object uid, reason, message) so a relist does not repeat them
// Every failure names the object and the HTTP status.
//
// Thread model: coroutines on the ApiClient's executor.

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/kube/api_client.h"
#include "common/kube/watch_event.h"
#include "common/status.h"

namespace ambit::control {

// `desired` is a whole object (apiVersion, kind, metadata.name[, namespace], ...). The fields
// compared and written on update are the top-level ones `desired` names other than metadata,
// plus metadata.labels, annotations and ownerReferences. Returns true when it wrote.
boost::asio::awaitable<Result<bool>> ensureObject(kube::ApiClient& api,
                                                  const kube::ResourceType& type,
                                                  const nlohmann::json& desired);

boost::asio::awaitable<Status> deleteObject(kube::ApiClient& api, const kube::ResourceType& type,
                                            const std::string& ns, const std::string& name);

class EventRecorder {
 public:
  EventRecorder(kube::ApiClient& api, std::string controller, std::string instance);

  // A Warning (or Normal) Event regarding `object` (as the API server sent it).
  boost::asio::awaitable<Status> record(const nlohmann::json& object, std::string type,
                                        std::string reason, std::string note);
  // Forget what was recorded for this uid (the object is gone).
  void forget(const std::string& uid);

  uint64_t recorded() const { return recorded_; }

 private:
  kube::ApiClient& api_;
  std::string controller_, instance_;
  std::set<std::string> seen_;  // uid \0 reason \0 note
  uint64_t recorded_ = 0;
};

}  // namespace ambit::control
