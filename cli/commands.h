#pragma once
// Each ambitctl command group registers its subcommands here; main.cc only wires them.

#include <CLI/CLI.hpp>

namespace ambit::cli {

// `ambitctl config validate|dump DIR`
void addConfigCommands(CLI::App& app);
// `ambitctl lab up|down|status|exec`
void addLabCommands(CLI::App& app);
// `ambitctl analyze`: configuration problems, istioctl-style codes (cli/analyze/)
void addAnalyzeCommand(CLI::App& app);
// `ambitctl explain`: the decision chain for one request, from configuration (cli/explain/)
void addExplainCommand(CLI::App& app);

}  // namespace ambit::cli
