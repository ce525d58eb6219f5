#include "common/config/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/config/assemble.h"
#include "common/config/model.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

using Translator = void (*)(TranslateContext&);

struct KindInfo {
  std::string_view kind;
  std::string_view group;  // "" for core
  std::initializer_list<std::string_view> versions;
  Translator translate;
};

const KindInfo* findKind(std::string_view kind) {
  static const KindInfo kKinds[] = {
      {"Namespace", "", {"v1"}, translateNamespace},
      {"Pod", "", {"v1"}, translatePod},
      {"Service", "", {"v1"}, translateService},
      {"VirtualService",
       "networking.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       translateVirtualService},
      {"DestinationRule",
       "networking.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       translateDestinationRule},
      {"AuthorizationPolicy",
       "security.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       translateAuthorizationPolicy},
      {"PeerAuthentication",
       "security.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       translatePeerAuthentication},
      {"RequestAuthentication",
       "security.istio.io",
       {"v1alpha3", "v1beta1", "v1"},
       translateRequestAuthentication},
      {"Gateway", "gateway.networking.k8s.io", {"v1", "v1beta1"}, translateGateway},
      {"HTTPRoute", "gateway.networking.k8s.io", {"v1", "v1beta1"}, translateHttpRoute},
      {"EndpointSlice", "discovery.k8s.io", {"v1"}, translateEndpointSlice},
  };
  for (const auto& k : kKinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

bool apiVersionMatches(const KindInfo& k, std::string_view api) {
  return std::any_of(k.versions.begin(), k.versions.end(), [&](std::string_view v) {
    return api == (k.group.empty() ? std::string(v) : fmt::format("{}/{}", k.group, v));
  });
}

std::string supportedVersions(const KindInfo& k) {
  std::vector<std::string> out;
  for (auto v : k.versions) {
    out.push_back(k.group.empty() ? std::string(v) : fmt::format("{}/{}", k.group, v));
  }
  return fmt::format("{}", fmt::join(out, ", "));
}

// Identity checks before translation; false when the resource must not be translated.
bool admit(const Resource& r, FieldReader& reader, const KindInfo*& kind,
           std::map<std::string, const Resource*>& seen) {
  kind = findKind(r.kind);
  if (kind == nullptr) {
    reader.fail(child(r.doc, "kind"), fmt::format("unknown kind '{}'", r.kind));
    return false;
  }
  if (!apiVersionMatches(*kind, r.api_version)) {
    reader.fail(child(r.doc, "apiVersion"),
                fmt::format("unsupported apiVersion '{}' for {}, expected one of: {}",
                            r.api_version, r.kind, supportedVersions(*kind)));
    return false;
  }
  const YAML::Node meta = child(r.doc, "metadata");
  bool ok = true;
  if (auto bad = checkResourceName(r.name)) {
    reader.fail(child(meta, "name"), fmt::format("metadata.name: {}", *bad));
    ok = false;
  }
  if (auto bad = r.ns.empty() ? std::nullopt : checkResourceName(r.ns)) {
    reader.fail(child(meta, "namespace"), fmt::format("metadata.namespace: {}", *bad));
    ok = false;
  }
  auto [it, inserted] = seen.emplace(r.object(), &r);
  if (!inserted) {
    reader.fail(child(meta, "name"), fmt::format("duplicate {} (first defined at {}:{})",
                                                 r.object(), it->second->file, it->second->line));
    return false;
  }
  return ok;
}

}  // namespace

bool isMeshKind(std::string_view kind) { return findKind(kind) != nullptr; }

void translateResource(const Resource& r, const LoaderOptions& options, PartialModel& model,
                       std::map<std::string, const Resource*>& seen, ConfigErrors& errors) {
  FieldReader reader(r.file, r.object(), r.doc, errors);
  const KindInfo* kind = nullptr;
  if (!admit(r, reader, kind, seen)) return;
  if (r.kind == "EndpointSlice") {  // discovery.k8s.io keeps its fields at the top level
    reader.checkFields(r.doc, "",
                       {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
  } else {
    reader.checkFields(r.doc, "", kTopLevelFields);
  }
  TranslateContext ctx{r, reader, options, model};
  try {
    kind->translate(ctx);
  } catch (const YAML::Exception& e) {
    reader.fail(r.doc, fmt::format("malformed {}: {}", r.kind, e.what()));
  }
}

std::string TranslateContext::host(std::string_view h) const {
  return resolveHost(h, res.ns, options.cluster_domain);
}

std::map<std::string, std::string> readSelector(TranslateContext& ctx, const YAML::Node& map,
                                                std::string_view key, std::string_view path) {
  auto labels = ctx.reader.stringMap(map, key, path);
  const YAML::Node node = child(map, key);
  for (const auto& [k, v] : labels) {
    const YAML::Node at = child(node, k);
    if (auto bad = checkLabelKey(k))
      ctx.reader.fail(at, fmt::format("{}: {}", fieldPath(path, key), *bad));
    if (auto bad = checkLabelValue(v))
      ctx.reader.fail(at, fmt::format("{}: {}", fieldPath(path, key), *bad));
  }
  return labels;
}

std::map<std::string, std::string> readLabels(TranslateContext& ctx) {
  return readSelector(ctx, child(ctx.res.doc, "metadata"), "labels", "metadata");
}

std::string contentHash(const std::vector<SourceDocument>& files) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= 0xff;  // separator so ("ab","c") and ("a","bc") differ
    h *= 1099511628211ULL;
  };
  for (const auto& f : files) {
    mix(f.path);
    mix(f.content);
  }
  return fmt::format("{:016x}", h);
}

LoadResult translate(const std::vector<SourceDocument>& files, const LoaderOptions& options) {
  LoadResult result;
  const std::vector<Resource> resources = splitResources(files, result.errors);
  result.resource_count = resources.size();
  PartialModel model;
  std::map<std::string, const Resource*> seen;
  for (const auto& r : resources) translateResource(r, options, model, seen, result.errors);
  crossCheck(model, result.errors);
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < files.size(); ++i) order.emplace(files[i].path, i);
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [&](const ConfigError& a, const ConfigError& b) {
                     return std::pair(order[a.file], a.line) < std::pair(order[b.file], b.line);
                   });
  std::set<std::string> bad_files;
  for (const auto& e : result.errors) bad_files.insert(e.file);
  result.snapshot = assemble(model, bad_files, options);
  result.snapshot.set_version(contentHash(files));
  return result;
}

bool isConfigFile(const std::filesystem::path& relative) {
  for (const auto& part : relative) {
    const std::string name = part.string();
    if (!name.empty() && name[0] == '.' && name != "." && name != "..") return false;
  }
  const auto ext = relative.extension();
  return ext == ".yaml" || ext == ".yml";
}

std::vector<SourceDocument> readConfigDir(const std::filesystem::path& dir, ConfigErrors& errors) {
  namespace fs = std::filesystem;
  std::vector<SourceDocument> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    errors.push_back(ConfigError{dir.string(), 0, 0, "", "not a readable directory"});
    return out;
  }
  auto it =
      fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
  std::vector<fs::path> paths;
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && isConfigFile(it->path().filename())) {
      paths.push_back(it->path());
    }
  }
  if (ec)
    errors.push_back(ConfigError{dir.string(), 0, 0, "", fmt::format("scan: {}", ec.message())});
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      errors.push_back(ConfigError{p.string(), 0, 0, "", "cannot read file"});
      continue;
    }
    out.push_back(SourceDocument{p.string(), ss.str()});
  }
  return out;
}

LoadResult loadConfigDir(const std::filesystem::path& dir, const LoaderOptions& options) {
  ConfigErrors read_errors;
  const auto files = readConfigDir(dir, read_errors);
  LoadResult result = translate(files, options);
  result.errors.insert(result.errors.begin(), read_errors.begin(), read_errors.end());
  return result;
}

}  // namespace ambit::config
