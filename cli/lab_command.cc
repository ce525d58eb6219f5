// Placeholder until the lab commands land (issue 2, the lab).
#include "cli/commands.h"

namespace ambit::cli {
void addLabCommands(CLI::App& app) { app.add_subcommand("lab", "single-machine lab"); }
}  // namespace ambit::cli
