#pragma once
// Pods straight from the API server's JSON, for ambit-control's hottest path (pods are most of a
// cluster's objects and most of its events). The general API path (kube_object.h) copies an
// object into a YAML node for the shared kind translators; for a Pod that copy and the YAML
// lookups were a sixth of ambit-control's CPU. This reads the same fields of the JSON with the
// same checks, in the same order, with the same messages: kubeObjectResource() +
// translateResource() of the Pod give exactly the same workload, IP claims and errors
// (tests/unit/config/kube_pod_test.cc compares both on varied and broken pods).
//
// Thread-safety: pure functions.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/config_error.h"
#include "common/config/loader.h"

namespace ambit::config {

// What one Pod contributes to the mesh.
struct KubePod {
  std::string ns;
  std::string name;
  std::string object;                    // "Pod <ns>/<name>", as Resource::object()
  std::optional<v1::Workload> workload;  // none for a pod that ran to completion
  std::vector<std::string> ips;          // the IPs it claims (none for a hostNetwork pod)
};

// True when translateKubePod() takes `object`: a JSON object whose kind is "Pod", or that has
// no kind and `kind` is "Pod" (items of a List). Anything else goes the general way.
bool isKubePod(const nlohmann::json& object, std::string_view kind);

// Translates a Pod for which isKubePod() holds. nullopt when it cannot be identified (no name,
// no apiVersion, metadata not a map); otherwise its contribution. Either way problems are
// appended to `errors` (file "kubernetes:Pod <ns>/<name>", line 0): with any, the pod is invalid.
std::optional<KubePod> translateKubePod(const nlohmann::json& object, std::string_view api_version,
                                        const LoaderOptions& options, ConfigErrors& errors);

}  // namespace ambit::config
