// `ambitctl config validate|dump DIR`: flag parsing and printing; ambit_config does the work.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/config/loader.h"
#include "common/config/serialize.h"

namespace ambit::cli {
namespace {

struct ConfigFlags {
  std::string dir;
  std::string output = "yaml";
  config::LoaderOptions loader;
};

void addDirAndLoaderFlags(CLI::App& cmd, ConfigFlags& f) {
  cmd.add_option("DIR", f.dir, "directory of Kubernetes-shaped YAML (*.yaml, *.yml, recursive)")
      ->required();
  addLoaderFlags(cmd, f.loader);
}

// Prints every problem on its own line to stderr; returns the process exit code.
int reportErrors(const config::LoadResult& result) {
  for (const auto& e : result.errors) fmt::print(stderr, "{}\n", e.toString());
  fmt::print(stderr, "{} problem(s) found in {} resource(s)\n", result.errors.size(),
             result.resource_count);
  return 1;
}

int runValidate(const ConfigFlags& f) {
  const auto result = config::loadConfigDir(f.dir, f.loader);
  if (!result.ok()) return reportErrors(result);
  fmt::print("{} resources valid\n", result.resource_count);
  return 0;
}

int runDump(const ConfigFlags& f) {
  const auto result = config::loadConfigDir(f.dir, f.loader);
  if (!result.ok()) return reportErrors(result);
  const auto text = f.output == "json" ? config::snapshotToJson(result.snapshot)
                                       : config::snapshotToYaml(result.snapshot);
  if (!text) {
    fmt::print(stderr, "ambitctl config dump: {}\n", text.error().message);
    return 1;
  }
  fmt::print("{}", text.value());
  if (text.value().empty() || text.value().back() != '\n') fmt::print("\n");
  return 0;
}

// CLI11_PARSE in main turns a RuntimeError into the process exit code without printing.
void exitWith(int code) {
  if (code != 0) throw CLI::RuntimeError(code);
}

}  // namespace

void addLoaderFlags(CLI::App& cmd, config::LoaderOptions& loader) {
  cmd.add_option("--trust-domain", loader.trust_domain, "SPIFFE trust domain")
      ->capture_default_str();
  cmd.add_option("--root-namespace", loader.root_namespace,
                 "namespace whose policies apply mesh-wide")
      ->capture_default_str();
  cmd.add_option("--cluster-domain", loader.cluster_domain, "service DNS suffix")
      ->capture_default_str();
}

void addConfigCommands(CLI::App& app) {
  auto* config = app.add_subcommand("config", "validate or dump mesh configuration");
  config->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();

  auto* validate = config->add_subcommand(
      "validate", "check every resource under DIR; lists every problem (file:line: object: why)");
  addDirAndLoaderFlags(*validate, *flags);
  validate->callback([flags] { exitWith(runValidate(*flags)); });

  auto* dump = config->add_subcommand("dump", "print the translated mesh snapshot");
  addDirAndLoaderFlags(*dump, *flags);
  dump->add_option("-o,--output", flags->output, "output format")
      ->check(CLI::IsMember({"json", "yaml"}))
      ->capture_default_str();
  dump->callback([flags] { exitWith(runDump(*flags)); });
}

}  // namespace ambit::cli
