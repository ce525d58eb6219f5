#include "cli/proxy_status.h"

namespace ambit::cli {

using json = nlohmann::json;

namespace {

// The value of label `name` in a sample line "family{a="x",name="y"} 1"; empty when absent.
std::string labelValue(std::string_view line, std::string_view name) {
  std::string key = std::string(name) + "=\"";
  auto at = line.find(key);
  while (at != std::string_view::npos && at > 0 && line[at - 1] != '{' && line[at - 1] != ',') {
    at = line.find(key, at + 1);
  }
  if (at == std::string_view::npos) return "";
  std::string out;
  for (size_t i = at + key.size(); i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;
    out += line[i];
  }
  return out;
}

bool startsWith(std::string_view line, std::string_view family) {
  return line.substr(0, family.size()) == family && line.size() > family.size() &&
         (line[family.size()] == '{' || line[family.size()] == ' ');
}

}  // namespace

DaemonHealth parseHealth(std::string_view text) {
  DaemonHealth h;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    if (startsWith(line, "istio_build")) {
      h.build = labelValue(line, "tag");
    } else if (startsWith(line, "ambit_config_info")) {
      h.config_version = labelValue(line, "version");
    } else if (startsWith(line, "ambit_xds_connected")) {
      auto space = line.rfind(' ');
      h.xds_connected = space != std::string_view::npos && line.substr(space + 1) != "0";
    }
  }
  return h;
}

namespace {

std::string source(const MeshDaemon& d, bool kubernetes) {
  if (!kubernetes) return d.kind == "control" ? "-" : "config-dir";
  if (d.kind == "ztunnel") return "agent-" + d.node;
  if (d.kind == "control") return "kube-apiserver";
  return "ambit-control";
}

// Kubernetes mode: the version most connected agents run (ties: the greatest).
std::string agentMajority(const std::vector<DaemonProbe>& probes) {
  std::map<std::string, int> count;
  for (const auto& p : probes) {
    if (p.daemon.kind == "agent" && p.health && !p.health->config_version.empty()) {
      ++count[p.health->config_version];
    }
  }
  std::string best;
  int n = 0;
  for (const auto& [v, c] : count) {
    if (c >= n) best = v, n = c;
  }
  return best;
}

std::string agentVersion(const std::vector<DaemonProbe>& probes, const std::string& node) {
  for (const auto& p : probes) {
    if (p.daemon.kind == "agent" && p.daemon.node == node && p.health) {
      return p.health->config_version;
    }
  }
  return "";
}

std::string status(const DaemonProbe& p, const std::vector<DaemonProbe>& probes, bool kubernetes,
                   const std::string& expected) {
  if (!p.health) return "UNREACHABLE";
  if (p.daemon.kind == "control") return p.ready ? "SERVING" : "NOT READY";
  const DaemonHealth& h = *p.health;
  // Local mode has no discovery stream (the daemons read the directory): xds_connected is 0.
  if (kubernetes && h.xds_connected && !*h.xds_connected) return "NOT CONNECTED";
  if (h.config_version.empty()) return "NOT SENT";
  std::string want = expected;
  if (kubernetes) {
    if (p.daemon.kind == "agent") return "SYNCED";
    want = p.daemon.kind == "ztunnel" ? agentVersion(probes, p.daemon.node) : agentMajority(probes);
  }
  return !want.empty() && h.config_version == want ? "SYNCED" : "STALE";
}

}  // namespace

json proxyStatusRows(const std::vector<DaemonProbe>& probes, bool kubernetes,
                     const std::string& expected_version) {
  json rows = json::array();
  for (const auto& p : probes) {
    json row{{"name", p.daemon.name},
             {"kind", p.daemon.kind},
             {"node", p.daemon.node},
             {"cluster", kubernetes ? "Kubernetes" : "lab"},
             {"source", source(p.daemon, kubernetes)},
             {"version", p.health ? p.health->build : ""},
             {"config_version", p.health ? p.health->config_version : ""},
             {"status", status(p, probes, kubernetes, expected_version)},
             {"endpoint", p.daemon.health.describe()}};
    if (!kubernetes && p.daemon.kind != "control")
      row["expected_config_version"] = expected_version;
    if (!p.error.empty()) row["error"] = p.error;
    rows.push_back(row);
  }
  return rows;
}

Table proxyStatusTable(const json& rows) {
  Table t({"NAME", "CLUSTER", "SOURCE", "VERSION", "CONFIG", "STATUS"});
  for (const auto& r : rows) {
    auto cell = [&r](const char* key) {
      std::string v = r.value(key, "");
      return v.empty() ? std::string("-") : v;
    };
    t.addRow({cell("name"), cell("cluster"), cell("source"), cell("version"),
              cell("config_version"), cell("status")});
  }
  return t;
}

}  // namespace ambit::cli
