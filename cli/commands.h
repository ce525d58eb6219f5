#pragma once
// Each ambitctl command group registers its subcommands here; main.cc only wires them.

#include <CLI/CLI.hpp>

namespace ambit::cli {

// `ambitctl config validate|dump DIR`
void addConfigCommands(CLI::App& app);
// `ambitctl lab up|down|status|exec`
void addLabCommands(CLI::App& app);

}  // namespace ambit::cli
