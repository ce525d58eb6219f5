// `ambitctl analyze`: flag parsing, loading and printing; cli/analyze does the work.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/analyze/analyzer.h"
#include "cli/commands.h"

namespace ambit::cli {
namespace {

// istioctl analyze's exit status when it reports findings at or above the threshold.
constexpr int kFindingsExitCode = 79;

struct AnalyzeFlags {
  std::vector<std::string> files;
  std::string kubeconfig;
  bool all_namespaces = false;
  std::string ns;
  std::string output = "text";
  std::string failure_threshold = "Info";
  config::LoaderOptions loader;
};

Level parseLevel(const std::string& s) {
  if (s == "Error") return Level::kError;
  if (s == "Warning") return Level::kWarning;
  return Level::kInfo;
}

int runAnalyze(const AnalyzeFlags& f) {
  if (f.files.empty() == f.kubeconfig.empty()) {
    throw CLI::ValidationError("ambitctl analyze",
                               "give the configuration to analyze: -f DIR|FILE (repeatable) or "
                               "--kubeconfig FILE, not both");
  }
  auto source = f.files.empty() ? MeshSource::fromCluster(f.kubeconfig, f.loader)
                                : MeshSource::fromPaths(f.files, f.loader);
  if (!source) {
    fmt::print(stderr, "ambitctl analyze: {}\n", source.error().message);
    return 1;
  }
  AnalyzeOptions options;
  // Like istioctl: a cluster is analyzed in one namespace ("default") unless -A or -n; files
  // are analyzed whole unless -n.
  if (!f.ns.empty()) {
    options.namespace_filter = f.ns;
  } else if (!f.files.empty() || f.all_namespaces) {
    options.namespace_filter = "";
  } else {
    options.namespace_filter = "default";
  }
  const Findings found = analyze(*source, options);
  if (f.output == "json") {
    fmt::print("{}", renderJson(found));
  } else if (f.output == "yaml") {
    fmt::print("{}", renderYaml(found));
  } else if (found.empty()) {
    fmt::print(stderr, "No validation issues found when analyzing {}.\n",
               options.namespace_filter.empty() ? std::string("all namespaces")
                                                : "namespace: " + options.namespace_filter);
  } else {
    fmt::print("{}", renderText(found));
  }
  const Level threshold = parseLevel(f.failure_threshold);
  for (const auto& finding : found) {
    if (finding.level <= threshold) return kFindingsExitCode;
  }
  return 0;
}

}  // namespace

void addAnalyzeCommand(CLI::App& app) {
  auto flags = std::make_shared<AnalyzeFlags>();
  auto* cmd = app.add_subcommand(
      "analyze",
      "find problems in mesh configuration (istioctl analyze): exit 79 when there are findings");
  cmd->add_option("-f,--filename", flags->files,
                  "YAML file or directory to analyze (repeatable; directories recursively)")
      ->check(CLI::ExistingPath);
  cmd->add_option("--kubeconfig", flags->kubeconfig, "analyze the objects of this cluster instead")
      ->check(CLI::ExistingFile);
  auto* all = cmd->add_flag("-A,--all-namespaces", flags->all_namespaces,
                            "report every namespace (the default for -f)");
  cmd->add_option("-n,--namespace", flags->ns, "report this namespace only")->excludes(all);
  cmd->add_option("-o,--output", flags->output, "output format")
      ->check(CLI::IsMember({"text", "json", "yaml"}))
      ->capture_default_str();
  cmd->add_option("--failure-threshold", flags->failure_threshold,
                  "lowest level of finding that makes the exit status 79")
      ->check(CLI::IsMember({"Error", "Warning", "Info"}))
      ->capture_default_str();
  addLoaderFlags(*cmd, flags->loader);
  cmd->callback([flags] {
    const int code = runAnalyze(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace ambit::cli
