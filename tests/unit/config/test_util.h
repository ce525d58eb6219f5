#pragma once
// Helpers for ambit_config tests: translate inline YAML.

#include <gtest/gtest.h>

#include <string>

#include "common/config/loader.h"

namespace ambit::config::testing {

inline LoadResult load(const std::string& yaml, const std::string& path = "t.yaml",
                       const LoaderOptions& options = {}) {
  return translate({SourceDocument{path, yaml}}, options);
}

// Fails the test with every error when the load was not clean.
inline v1::MeshSnapshot loadOk(const std::string& yaml, const LoaderOptions& options = {}) {
  LoadResult r = load(yaml, "t.yaml", options);
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  return r.snapshot;
}

inline std::string allErrors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.toString() + "\n";
  return out;
}

// A VirtualService splitting my-app between subsets v1 and v2 by weight, and the
// DestinationRule defining them: a small valid config whose weights tests can break.
inline std::string canaryRoute(int v1, int v2) {
  return "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
         "metadata: {name: my-app}\nspec:\n  hosts: [my-app]\n  http:\n  - route:\n"
         "    - destination: {host: my-app, subset: v1}\n      weight: " +
         std::to_string(v1) +
         "\n    - destination: {host: my-app, subset: v2}\n      weight: " + std::to_string(v2) +
         "\n";
}

constexpr const char* kCanaryRule =
    "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: my-app}\n"
    "spec:\n  host: my-app\n  subsets: [{name: v1}, {name: v2}]\n";

}  // namespace ambit::config::testing
