#pragma once
// Helpers for ambit_config tests: translate inline YAML, temporary config directories.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
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

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ambit-config-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes atomically (temp file + rename) so a watcher never sees a torn file.
  void write(const std::string& rel, const std::string& content) const {
    const auto target = path_ / rel;
    std::filesystem::create_directories(target.parent_path());
    const auto tmp = path_ / (".tmp-" + target.filename().string());
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, target);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace ambit::config::testing
