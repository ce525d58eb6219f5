// ambitctl: configuration tooling, the single-machine lab and mesh inspection.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{"ambitctl: ambit service mesh command line"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  app.parse_complete_callback([&] {
    if (!ambit::initLogging("ambitctl", log_level)) {
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
    }
  });
  ambit::cli::addConfigCommands(app);
  ambit::cli::addLabCommands(app);
  ambit::cli::addZtunnelConfigCommands(app);
  ambit::cli::addProxyStatusCommand(app);
  ambit::cli::addWaypointCommands(app);
  ambit::cli::addAnalyzeCommand(app);
  ambit::cli::addExplainCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
