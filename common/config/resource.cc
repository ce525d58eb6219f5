#include "common/config/resource.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>

#include "common/config/field_reader.h"

namespace ambit::config {
namespace {

constexpr const char* kDefaultNamespace = "default";

// Remembers where the last document started; ignores everything else.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { last_start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark last_start = YAML::Mark::null_mark();
};

// YAML::LoadAll() of yaml-cpp 0.7 never returns on a document that starts with a ',' outside
// [] or {}: its parser reports an empty document there without consuming the token, again and
// again, and LoadAll collects them until memory runs out (found by tests/fuzz/config_translate).
// So the documents are counted first, by a parser that gives up once there are more documents
// than the text has lines (each document but the first starts on a line of its own).
std::vector<YAML::Node> loadAllDocuments(const std::string& content) {
  const size_t max_documents =
      static_cast<size_t>(std::count(content.begin(), content.end(), '\n')) + 2;
  std::istringstream in(content);
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (size_t documents = 0; parser.HandleNextDocument(counter);) {
    if (++documents > max_documents) {
      throw YAML::ParserException(
          counter.last_start, "a document starts with ',' outside a flow collection ([] or {})");
    }
  }
  return YAML::LoadAll(content);
}

}  // namespace

const std::vector<std::string_view> kMetadataFields = {"name",
                                                       "namespace",
                                                       "labels",
                                                       "annotations",
                                                       "uid",
                                                       "resourceVersion",
                                                       "generation",
                                                       "creationTimestamp",
                                                       "deletionTimestamp",
                                                       "ownerReferences",
                                                       "finalizers",
                                                       "generateName",
                                                       "managedFields",
                                                       "deletionGracePeriodSeconds",
                                                       "selfLink"};

bool identifyResource(Resource& r, ConfigErrors& errors) {
  FieldReader reader(r.file, "", r.doc, errors);
  if (!isMap(r.doc)) {
    reader.fail(r.doc, "document must be a map with apiVersion, kind and metadata");
    return false;
  }
  const auto kind = reader.str(r.doc, "kind", "", true);
  if (kind) reader.setObject(*kind);
  const auto api = reader.str(r.doc, "apiVersion", "", true);
  const YAML::Node meta = child(r.doc, "metadata");
  std::optional<std::string> name;
  std::optional<std::string> ns;
  if (!present(meta)) {
    reader.fail(r.doc, "missing required field metadata");
  } else if (reader.checkFields(meta, "metadata", kMetadataFields)) {
    name = reader.str(meta, "name", "metadata", true);
    ns = reader.str(meta, "namespace", "metadata");
  }
  if (!kind || !api || !name) return false;
  r.kind = *kind;
  r.api_version = *api;
  r.name = *name;
  r.ns = r.kind == "Namespace" ? "" : ns.value_or(kDefaultNamespace);
  return true;
}

std::string Resource::object() const {
  if (ns.empty()) return fmt::format("{} {}", kind, name);
  return fmt::format("{} {}/{}", kind, ns, name);
}

std::vector<Resource> splitResources(const std::vector<SourceDocument>& files,
                                     ConfigErrors& errors) {
  std::vector<Resource> out;
  for (size_t i = 0; i < files.size(); ++i) {
    std::vector<YAML::Node> docs;
    try {
      docs = loadAllDocuments(files[i].content);
    } catch (const YAML::Exception& e) {
      const bool has_mark = !e.mark.is_null();
      errors.push_back(ConfigError{files[i].path, has_mark ? e.mark.line + 1 : 0,
                                   has_mark ? e.mark.column + 1 : 0, "",
                                   fmt::format("invalid YAML: {}", e.msg)});
      continue;
    }
    for (auto& doc : docs) {
      if (!present(doc)) continue;
      Resource r;
      r.file_index = i;
      r.file = files[i].path;
      r.doc = doc;
      r.line = doc.Mark().line + 1;
      if (identifyResource(r, errors)) out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace ambit::config
