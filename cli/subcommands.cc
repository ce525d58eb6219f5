#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"

namespace ambit::cli {

void requireKnownSubcommand(CLI::App& group) {
  group.require_subcommand(0, 1);
  // A word that names no subcommand lands in this hidden positional instead of CLI11's generic
  // "A subcommand is required".
  auto unknown = std::make_shared<std::string>();
  group.add_option("unknown-subcommand", *unknown)->group("");
  group.callback([&group, unknown] {
    if (!group.get_subcommands().empty()) return;
    std::string names;
    for (const auto* sub : group.get_subcommands({})) {
      if (sub->get_group().empty()) continue;  // hidden
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    std::string what = unknown->empty() ? "a subcommand is required"
                                        : fmt::format("unknown subcommand '{}'", *unknown);
    fmt::print(stderr, "ambitctl {}: {} (use {})\n", group.get_name(), what, names);
    std::exit(1);
  });
}

}  // namespace ambit::cli
