#include "cli/analyze/mesh_source.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/lab/kube_api.h"
#include "common/config/field_reader.h"
#include "common/config/kube_object.h"

namespace ambit::cli {
namespace {

constexpr std::string_view kClusterPrefix = "kubernetes:";

struct ListedKind {
  const char* path;  // the collection over every namespace
  const char* kind;
  const char* api_version;
};

// The kinds ambit-control watches (control/cluster_watch.cc), listed once.
constexpr ListedKind kListedKinds[] = {
    {"/api/v1/namespaces", "Namespace", "v1"},
    {"/api/v1/pods", "Pod", "v1"},
    {"/api/v1/services", "Service", "v1"},
    {"/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice", "discovery.k8s.io/v1"},
    {"/apis/security.istio.io/v1/authorizationpolicies", "AuthorizationPolicy",
     "security.istio.io/v1"},
    {"/apis/security.istio.io/v1/peerauthentications", "PeerAuthentication",
     "security.istio.io/v1"},
    {"/apis/security.istio.io/v1/requestauthentications", "RequestAuthentication",
     "security.istio.io/v1"},
    {"/apis/networking.istio.io/v1/virtualservices", "VirtualService", "networking.istio.io/v1"},
    {"/apis/networking.istio.io/v1/destinationrules", "DestinationRule", "networking.istio.io/v1"},
    {"/apis/gateway.networking.k8s.io/v1/gateways", "Gateway", "gateway.networking.k8s.io/v1"},
    {"/apis/gateway.networking.k8s.io/v1/httproutes", "HTTPRoute", "gateway.networking.k8s.io/v1"},
};

Result<std::string> readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return errnoError(fmt::format("open {}", p.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return errnoError(fmt::format("read {}", p.string()));
  return ss.str();
}

// The YAML node at `path` below `doc` (undefined when absent). Lookups go through
// config::child and reset(): assigning one yaml-cpp node to another would rewrite the document.
YAML::Node nodeAt(const YAML::Node& doc, const std::vector<std::string>& path) {
  YAML::Node at = doc;
  for (const auto& key : path) {
    if (at.IsSequence()) {
      char* end = nullptr;
      const unsigned long i = std::strtoul(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || i >= at.size())
        return YAML::Node(YAML::NodeType::Undefined);
      const YAML::Node& seq = at;
      at.reset(seq[i]);
    } else {
      at.reset(config::child(at, key));
    }
    if (!at.IsDefined()) return at;
  }
  return at;
}

// GET of a whole collection; null when the API is not installed (404). A 429 (the API server's
// storage for a new CRD is still initialising, or flow control) is retried as it asks, like
// client-go does.
Result<nlohmann::json> listAll(lab::KubeApi& api, const std::string& path) {
  constexpr int kAttempts = 10;
  for (int attempt = 1;; ++attempt) {
    auto r = api.call(boost::beast::http::verb::get, path);
    if (!r) return r.error();
    if (r->status == 404) return nlohmann::json();
    if (r->status == 429 && attempt < kAttempts) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (r->status != 200) return makeError("GET {}: HTTP {}: {}", path, r->status, r->body);
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return makeError("GET {}: the answer is not JSON", path);
    return j;
  }
}

}  // namespace

std::string SourceLocation::toString() const {
  if (file.empty()) return "";
  return line > 0 ? fmt::format("{}:{}", file, line) : file;
}

ObjectRef parseObject(const std::string& object) {
  ObjectRef out;
  const size_t space = object.find(' ');
  out.kind = object.substr(0, space);
  if (space == std::string::npos) return out;
  const std::string rest = object.substr(space + 1);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) {
    out.name = rest;
  } else {
    out.ns = rest.substr(0, slash);
    out.name = rest.substr(slash + 1);
  }
  return out;
}

void MeshSource::load(std::vector<config::SourceDocument> files,
                      const config::LoaderOptions& options) {
  options_ = options;
  files_ = std::move(files);
  result_ = config::translate(files_, options_);
  config::ConfigErrors ignored;  // translate() reported them already
  resources_ = config::splitResources(files_, ignored);
  for (size_t i = 0; i < resources_.size(); ++i) by_object_.emplace(resources_[i].object(), i);
}

MeshSource MeshSource::fromDocuments(std::vector<config::SourceDocument> files,
                                     const config::LoaderOptions& options) {
  MeshSource s;
  s.load(std::move(files), options);
  return s;
}

Result<MeshSource> MeshSource::fromPaths(const std::vector<std::string>& paths,
                                         const config::LoaderOptions& options) {
  std::vector<config::SourceDocument> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      config::ConfigErrors errors;
      auto docs = config::readConfigDir(p, errors);
      if (!errors.empty()) return makeError("{}", errors.front().toString());
      for (auto& d : docs) files.push_back(std::move(d));
      continue;
    }
    auto text = readFile(p);
    if (!text) return text.error();
    files.push_back({p, std::move(*text)});
  }
  MeshSource s;
  s.load(std::move(files), options);
  return s;
}

Result<MeshSource> MeshSource::fromCluster(const std::string& kubeconfig,
                                           const config::LoaderOptions& options) {
  auto api = lab::KubeApi::open(kubeconfig);
  if (!api) return api.error();
  std::vector<config::SourceDocument> files;
  config::ConfigErrors unidentified;  // objects without kind, apiVersion or name
  for (const ListedKind& k : kListedKinds) {
    auto list = listAll(**api, k.path);
    if (!list) return list.error();
    if (list->is_null()) continue;  // 404: the kind's API is not installed
    const auto items = list->find("items");
    if (items == list->end() || !items->is_array()) {
      return makeError("GET {}: the answer is not a list", k.path);
    }
    for (const auto& item : *items) {
      config::ConfigErrors errors;
      auto r = config::kubeObjectResource(item, errors, k.kind, k.api_version);
      if (!r) {
        unidentified.insert(unidentified.end(), errors.begin(), errors.end());
        continue;
      }
      YAML::Emitter e;
      e << r->doc;
      files.push_back({config::kubeObjectFile(r->kind, r->ns, r->name), e.c_str()});
    }
  }
  MeshSource s;
  s.from_cluster_ = true;
  s.load(std::move(files), options);
  s.result_.errors.insert(s.result_.errors.begin(), unidentified.begin(), unidentified.end());
  return s;
}

const config::Resource* MeshSource::find(const std::string& kind, const std::string& ns,
                                         const std::string& name) const {
  const std::string key =
      ns.empty() ? fmt::format("{} {}", kind, name) : fmt::format("{} {}/{}", kind, ns, name);
  auto it = by_object_.find(key);
  return it == by_object_.end() ? nullptr : &resources_[it->second];
}

SourceLocation MeshSource::locate(const std::string& kind, const std::string& ns,
                                  const std::string& name) const {
  const config::Resource* r = find(kind, ns, name);
  if (r == nullptr) return {};
  const bool cluster = r->file.rfind(kClusterPrefix, 0) == 0;
  return {r->file, cluster ? 0 : r->line};
}

SourceLocation MeshSource::locateField(const std::string& kind, const std::string& ns,
                                       const std::string& name,
                                       const std::vector<std::string>& path) const {
  SourceLocation where = locate(kind, ns, name);
  const config::Resource* r = find(kind, ns, name);
  if (r == nullptr || where.line == 0) return where;
  const YAML::Node at = nodeAt(r->doc, path);
  if (at.IsDefined() && !at.Mark().is_null()) where.line = at.Mark().line + 1;
  return where;
}

}  // namespace ambit::cli
