#pragma once
// Each ambitctl command group registers its subcommands here; main.cc only wires them.

#include <CLI/CLI.hpp>

namespace ambit::config {
struct LoaderOptions;
}

namespace ambit::cli {

// Makes `group` need one of its subcommands and name a wrong one: "ambitctl <group>: unknown
// subcommand 'x' (use a, b, c)" on stderr, exit 1 (CLI11 alone says only "A subcommand is
// required").
void requireKnownSubcommand(CLI::App& group);

// --trust-domain, --root-namespace, --cluster-domain: how configuration is read (config,
// analyze, explain).
void addLoaderFlags(CLI::App& cmd, config::LoaderOptions& loader);
// `ambitctl config validate|dump DIR`
void addConfigCommands(CLI::App& app);
// `ambitctl lab up|down|status|exec`
void addLabCommands(CLI::App& app);
// `ambitctl ztunnel-config workloads|services|policies|certificates|connections|all`
void addZtunnelConfigCommands(CLI::App& app);
// `ambitctl proxy-status`
void addProxyStatusCommand(CLI::App& app);
// `ambitctl waypoint generate|apply|delete|list|status`
void addWaypointCommands(CLI::App& app);
// `ambitctl analyze`: configuration problems, istioctl-style codes (cli/analyze/)
void addAnalyzeCommand(CLI::App& app);
// `ambitctl explain`: the decision chain for one request, from configuration (cli/explain/)
void addExplainCommand(CLI::App& app);

}  // namespace ambit::cli
