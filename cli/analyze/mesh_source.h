#pragma once
// What `ambitctl analyze` and `ambitctl explain` look at: Kubernetes-shaped YAML from files and
// directories (-f), or the same kinds listed from a cluster (--kubeconfig), translated by the
// pipeline every daemon uses (config::translate), together with where each object came from so
// every finding and every step of an explanation can name its file and line.
//
// Objects listed from a cluster become one document each, named "kubernetes:<Kind> <ns>/<name>"
// (config::kubeObjectFile) with no line, so one bad object is rejected alone, as ambit-control
// rejects it.
//
// Thread-safety: a MeshSource is immutable once loaded.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config/loader.h"
#include "common/config/resource.h"
#include "common/status.h"

namespace ambit::cli {

// Where an object (or a field of it) was defined: "dir/traffic.yaml:12", or
// "kubernetes:VirtualService default/my-app" for cluster objects (line 0).
struct SourceLocation {
  std::string file;
  int line = 0;

  bool known() const { return !file.empty(); }
  std::string toString() const;  // "file:line", "file" without a line, "" when unknown
};

class MeshSource {
 public:
  // Reads every path: a directory is read like `config validate` reads it (*.yaml / *.yml,
  // recursive, sorted), a file as it is. Fails when a path cannot be read.
  static Result<MeshSource> fromPaths(const std::vector<std::string>& paths,
                                      const config::LoaderOptions& options = {});
  // In-memory documents (tests).
  static MeshSource fromDocuments(std::vector<config::SourceDocument> files,
                                  const config::LoaderOptions& options = {});
  // Lists Namespaces, Pods, Services, EndpointSlices and the Istio and Gateway API kinds ambit
  // reads from the cluster of `kubeconfig` (every namespace: references cross namespaces). A
  // kind whose API is not installed (404) is skipped.
  static Result<MeshSource> fromCluster(const std::string& kubeconfig,
                                        const config::LoaderOptions& options = {});

  const config::LoadResult& result() const { return result_; }
  const v1::MeshSnapshot& snapshot() const { return result_.snapshot; }
  const std::vector<config::Resource>& resources() const { return resources_; }
  bool fromCluster() const { return from_cluster_; }
  const config::LoaderOptions& options() const { return options_; }

  // The object "<Kind>" `ns`/`name` (`ns` empty for cluster-scoped kinds); null when absent.
  const config::Resource* find(const std::string& kind, const std::string& ns,
                               const std::string& name) const;
  // Where the object starts; unknown when absent.
  SourceLocation locate(const std::string& kind, const std::string& ns,
                        const std::string& name) const;
  // Where a field below the object is, e.g. {"spec", "http", "2"} (numbers index lists); the
  // object's own location when the field is absent.
  SourceLocation locateField(const std::string& kind, const std::string& ns,
                             const std::string& name, const std::vector<std::string>& path) const;

 private:
  MeshSource() = default;
  void load(std::vector<config::SourceDocument> files, const config::LoaderOptions& options);

  std::vector<config::SourceDocument> files_;
  std::vector<config::Resource> resources_;
  std::map<std::string, size_t> by_object_;  // Resource::object() -> index
  config::LoadResult result_;
  config::LoaderOptions options_;
  bool from_cluster_ = false;
};

// "VirtualService default/my-app" split back into kind, namespace and name (namespace empty for
// "Namespace demo").
struct ObjectRef {
  std::string kind;
  std::string ns;
  std::string name;
};
ObjectRef parseObject(const std::string& object);

}  // namespace ambit::cli
