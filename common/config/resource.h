#pragma once
// A Kubernetes-shaped document split out of a YAML file, with the identity every error needs.

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_error.h"

namespace ambit::config {

// One input file's text. `path` is how errors name the file.
struct SourceDocument {
  std::string path;
  std::string content;
};

struct Resource {
  size_t file_index = 0;  // into the SourceDocument list
  std::string file;
  YAML::Node doc;
  std::string api_version;
  std::string kind;
  std::string name;
  std::string ns;  // metadata.namespace, "default" when unset; empty for Namespace
  int line = 0;    // 1-based line of the document start

  // "VirtualService default/my-app", "Namespace demo".
  std::string object() const;
};

// The keys metadata may hold (any other is reported as unknown).
extern const std::vector<std::string_view> kMetadataFields;

// Reads kind, apiVersion, metadata.name and metadata.namespace of `r.doc` into `r`; false (with
// errors naming `r.file`) when the document cannot be identified.
bool identifyResource(Resource& r, ConfigErrors& errors);

// Splits every file into resources. Unparsable YAML, documents that are not maps and documents
// missing apiVersion/kind/metadata.name are reported and skipped; empty documents are ignored.
std::vector<Resource> splitResources(const std::vector<SourceDocument>& files,
                                     ConfigErrors& errors);

}  // namespace ambit::config
