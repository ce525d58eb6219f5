#pragma once
// Configuration translation: Kubernetes-shaped YAML (Namespace, Pod, Service, Istio
// networking/security resources, Gateway API waypoints and HTTPRoutes) into one immutable
// ambit::v1::MeshSnapshot.
//
// Rejection is per file: a file with any problem contributes nothing to the snapshot, and every
// problem in every file is reported. Consumers that must never half-apply (the agent, the
// ConfigWatcher) use a result only when ok().
//
// Thread-safety: the functions are pure and reentrant.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/config_error.h"
#include "common/config/resource.h"

namespace ambit::config {

struct LoaderOptions {
  std::string trust_domain = "cluster.local";
  std::string root_namespace = "istio-system";
  // DNS suffix of services: "<svc>.<ns>.svc.<cluster_domain>".
  std::string cluster_domain = "cluster.local";
};

struct LoadResult {
  v1::MeshSnapshot snapshot;  // from the files without problems; version = content hash
  ConfigErrors errors;        // every problem found, in file order
  size_t resource_count = 0;  // resources read (including those in rejected files)

  bool ok() const { return errors.empty(); }
};

// Translates in-memory documents (each SourceDocument may hold several YAML documents).
LoadResult translate(const std::vector<SourceDocument>& files, const LoaderOptions& options = {});

// Reads every *.yaml / *.yml file under `dir` (recursively, sorted by path; hidden files and
// directories skipped) and translates them. Error file names are `dir`/<relative path>.
LoadResult loadConfigDir(const std::filesystem::path& dir, const LoaderOptions& options = {});

// Whether loadConfigDir reads a file at `relative` (a path under the directory): a *.yaml or
// *.yml name with no hidden (dot-named) component.
bool isConfigFile(const std::filesystem::path& relative);

// Reads the files loadConfigDir would read; unreadable paths are reported in `errors`.
std::vector<SourceDocument> readConfigDir(const std::filesystem::path& dir, ConfigErrors& errors);

// Stable content hash of the inputs (FNV-1a 64 over paths and contents), 16 hex digits.
std::string contentHash(const std::vector<SourceDocument>& files);

}  // namespace ambit::config
