// Placeholder until the configuration commands land (issue 2, config translation).
#include "cli/commands.h"

namespace ambit::cli {
void addConfigCommands(CLI::App& app) { app.add_subcommand("config", "validate or dump mesh configuration"); }
}  // namespace ambit::cli
