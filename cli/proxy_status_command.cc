// `ambitctl proxy-status`: every daemon of the lab and whether it runs the configuration it
// should (columns and states in proxy_status.h).
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/proxy_status.h"
#include "common/config/loader.h"

namespace ambit::cli {
namespace {

struct ProxyStatusOptions {
  std::string lab = "ambit";
  std::string output = "short";
};

DaemonProbe probe(const MeshDaemon& d) {
  DaemonProbe p{.daemon = d};
  auto metrics = adminGetOk(d.health, "/metrics");
  if (!metrics) {
    p.error = metrics.error().message;
    return p;
  }
  p.health = parseHealth(*metrics);
  if (d.kind == "control") {
    auto ready = adminGet(d.health, "/ready");
    p.ready = ready && ready->status == 200;
  }
  return p;
}

Result<std::string> run(const ProxyStatusOptions& o) {
  auto format = parseOutputFormat(o.output);
  AMBIT_TRY(format);
  auto lab = labTargets(o.lab);
  AMBIT_TRY(lab);
  std::string expected;
  if (!lab->kubernetes) {
    auto loaded = config::loadConfigDir(lab->config_dir);
    if (loaded.ok()) {
      expected = loaded.snapshot.version();
    } else {
      fmt::print(stderr,
                 "warning: {} has {} problem(s), so the daemons keep their last good version; "
                 "see `ambitctl config validate {}`\n",
                 lab->config_dir, loaded.errors.size(), lab->config_dir);
    }
  }
  std::vector<DaemonProbe> probes;
  for (const auto& d : lab->daemons) probes.push_back(probe(d));
  auto rows = proxyStatusRows(probes, lab->kubernetes, expected);
  return renderOutput(*format, rows, proxyStatusTable(rows));
}

}  // namespace

void addProxyStatusCommand(CLI::App& app) {
  static ProxyStatusOptions options;
  auto* cmd = app.add_subcommand(
      "proxy-status",
      "every ztunnel, agent, waypoint (and ambit-control in Kubernetes mode) of the lab and "
      "whether it runs the configuration it should, like istioctl proxy-status.\n"
      "Columns: NAME; CLUSTER (lab or Kubernetes); SOURCE, where it gets its configuration "
      "(istioctl's ISTIOD: config-dir in local mode, ambit-control, or the node's agent for a "
      "ztunnel in Kubernetes mode); VERSION, the ambit build; CONFIG, the configuration version "
      "in force; STATUS: SYNCED (the version it should have: local mode the config directory's "
      "content hash, Kubernetes mode a ztunnel its agent's and a waypoint most agents'), STALE, "
      "NOT CONNECTED (discovery stream down), NOT SENT (no configuration yet), UNREACHABLE; "
      "SERVING / NOT READY for ambit-control. Read from each daemon's /metrics.");
  cmd->add_option("--lab", options.lab, "the lab to inspect")->capture_default_str();
  cmd->add_option("-o,--output", options.output, "short|json|yaml")->capture_default_str();
  cmd->callback([] {
    auto out = run(options);
    if (!out) {
      std::fflush(stdout);
      fmt::print(stderr, "ambitctl proxy-status: {}\n", out.error().message);
      std::exit(1);
    }
    std::cout << *out;
  });
}

}  // namespace ambit::cli
