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

}  // namespace ambit::config::testing
