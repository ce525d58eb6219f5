// `ambitctl explain`: flag parsing, loading and printing; cli/explain does the work.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/explain/explanation.h"

namespace ambit::cli {
namespace {

struct ExplainFlags {
  ExplainRequest request;
  std::vector<std::string> headers;
  std::vector<std::string> files;
  std::string kubeconfig;
  std::string output = "text";
  config::LoaderOptions loader;
};

std::pair<std::string, std::string> parseHeader(const std::string& h) {
  const size_t colon = h.find(':');
  if (colon == std::string::npos || colon == 0)
    throw CLI::ValidationError("-H", "'" + h + "': expected 'name: value'");
  std::string value = h.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
  return {h.substr(0, colon), value};
}

int runExplain(ExplainFlags& f) {
  if (f.files.empty() == f.kubeconfig.empty()) {
    throw CLI::ValidationError("ambitctl explain",
                               "give the configuration: -f DIR|FILE (repeatable) or --kubeconfig "
                               "FILE, not both");
  }
  if (f.request.path.empty() || f.request.path.front() != '/')
    throw CLI::ValidationError("--path", "'" + f.request.path + "': must start with '/'");
  for (const auto& h : f.headers) f.request.headers.push_back(parseHeader(h));
  auto source = f.files.empty() ? MeshSource::fromCluster(f.kubeconfig, f.loader)
                                : MeshSource::fromPaths(f.files, f.loader);
  if (!source) {
    fmt::print(stderr, "ambitctl explain: {}\n", source.error().message);
    return 1;
  }
  for (const auto& e : source->result().errors) {
    fmt::print(stderr, "warning: rejected (as the mesh would): {}\n", e.toString());
  }
  auto explained = explainRequest(*source, f.request);
  if (!explained) {
    fmt::print(stderr, "ambitctl explain: {}\n", explained.error().message);
    return 2;
  }
  fmt::print("{}", f.output == "json" ? renderExplanationJson(f.request, *explained)
                                      : renderExplanationText(f.request, *explained));
  return 0;
}

}  // namespace

void addExplainCommand(CLI::App& app) {
  auto flags = std::make_shared<ExplainFlags>();
  auto* cmd = app.add_subcommand(
      "explain", "explain, from configuration alone, what the mesh does with one request");
  cmd->add_option("--from", flags->request.from, "client: <namespace>/<pod> or an IP")->required();
  cmd->add_option("--to", flags->request.to,
                  "destination: host[:port], <namespace>/<service>[:port] or IP:port")
      ->required();
  cmd->add_option("--method", flags->request.method, "HTTP method")->capture_default_str();
  cmd->add_option("--path", flags->request.path, "HTTP path (with ?query)")->capture_default_str();
  cmd->add_option("-H,--header", flags->headers, "request header 'name: value' (repeatable)");
  cmd->add_option("--jwt", flags->request.jwt, "JWT sent as 'Authorization: Bearer <token>'");
  cmd->add_option("-f,--filename", flags->files, "YAML file or directory (repeatable)")
      ->check(CLI::ExistingPath);
  cmd->add_option("--kubeconfig", flags->kubeconfig, "read the configuration from this cluster")
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", flags->output, "output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  addLoaderFlags(*cmd, flags->loader);
  cmd->callback([flags] {
    const int code = runExplain(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace ambit::cli
