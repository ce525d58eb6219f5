// `ambitctl waypoint generate|apply|delete|list|status`, shaped like istioctl's: the Gateway
// from waypoint.h, written to the lab's config directory (local mode) or the API server
// (Kubernetes mode: --kubeconfig, or a lab brought up with --kubernetes).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/lab/kube_api.h"
#include "cli/lab_targets.h"
#include "cli/table.h"
#include "cli/waypoint.h"

namespace ambit::cli {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

struct WaypointOptions {
  WaypointSpec spec;
  std::string lab = "ambit";
  std::string config_dir;
  std::string kubeconfig;
  bool enroll_namespace = false;
  bool all_namespaces = false;
  std::string output = "short";
};

[[noreturn]] void fail(const std::string& verb, const Error& e) {
  std::fflush(stdout);
  fmt::print(stderr, "ambitctl waypoint {}: {}\n", verb, e.message);
  std::exit(1);
}

// Where the waypoints live: the API server (kube set), or a config directory.
struct Store {
  std::unique_ptr<lab::KubeApi> kube;
  std::string config_dir;
  std::optional<LabTargets> lab;  // local mode: the lab, if one is up (for status)
};

Result<Store> openStore(const WaypointOptions& o) {
  Store s;
  std::string kubeconfig = o.kubeconfig;
  if (kubeconfig.empty() && o.config_dir.empty()) {
    auto lab = labTargets(o.lab);
    if (!lab) {
      return lab.error().context(
          "no --config-dir or --kubeconfig given, and the lab cannot be read");
    }
    if (lab->kubernetes) kubeconfig = lab->kubeconfig;
    s.config_dir = lab->config_dir;
    s.lab = std::move(*lab);
  } else if (!o.config_dir.empty()) {
    s.config_dir = o.config_dir;
    if (auto lab = labTargets(o.lab); lab && lab->config_dir == o.config_dir) s.lab = *lab;
  }
  if (kubeconfig.empty() && !std::filesystem::is_directory(s.config_dir)) {
    return makeError("config directory {} does not exist", s.config_dir);
  }
  if (!kubeconfig.empty()) {
    auto api = lab::KubeApi::open(kubeconfig);
    AMBIT_TRY(api);
    s.kube = std::move(*api);
  }
  return s;
}

std::string gatewaysPath(const std::string& ns) {
  return ns.empty() ? "/apis/gateway.networking.k8s.io/v1/gateways"
                    : "/apis/gateway.networking.k8s.io/v1/namespaces/" + ns + "/gateways";
}

Status kubeApply(lab::KubeApi& api, const WaypointOptions& o) {
  std::string target =
      gatewaysPath(o.spec.namespace_name) + "/" + o.spec.name + "?fieldManager=ambitctl&force=true";
  auto r =
      api.call(http::verb::patch, target, gatewayObject(o.spec), "application/apply-patch+yaml");
  AMBIT_TRY(r);
  if (r->status != 200 && r->status != 201) {
    return makeError("apply Gateway {}/{}: HTTP {}: {}", o.spec.namespace_name, o.spec.name,
                     r->status, r->body);
  }
  if (!o.enroll_namespace) return Status::ok();
  return api.patch("/api/v1/namespaces/" + o.spec.namespace_name,
                   {{"metadata", {{"labels", {{kUseWaypointLabel, o.spec.name}}}}}});
}

Status kubeDelete(lab::KubeApi& api, const WaypointSpec& spec) {
  auto r = api.call(http::verb::delete_, gatewaysPath(spec.namespace_name) + "/" + spec.name);
  AMBIT_TRY(r);
  if (r->status == 404) {
    return makeError("no waypoint {} in namespace {}", spec.name, spec.namespace_name);
  }
  if (r->status != 200 && r->status != 202) {
    return makeError("delete Gateway {}/{}: HTTP {}: {}", spec.namespace_name, spec.name, r->status,
                     r->body);
  }
  return Status::ok();
}

Result<std::vector<WaypointInfo>> list(Store& s, const std::string& ns) {
  if (!s.kube) return listLocalWaypoints(s.config_dir, ns);
  auto got = s.kube->get(gatewaysPath(ns));
  AMBIT_TRY(got);
  std::vector<WaypointInfo> out;
  for (const auto& item : got->value("items", json::array())) {
    json object = item;
    object["kind"] = "Gateway";  // items of a List carry no kind
    WaypointInfo w;
    if (waypointFromObject(object, w)) out.push_back(std::move(w));
  }
  return out;
}

// Programmed: Kubernetes mode, ambit-control gave the Gateway its address (status.addresses);
// local mode, a lab pod runs it and answers its readiness probe.
struct Programmed {
  bool ok = false;
  std::string reason, message;
};

Programmed programmed(const Store& s, const WaypointInfo& w) {
  if (s.kube) {
    for (const auto& c : w.status.value("conditions", json::array())) {
      if (c.value("type", "") == "Programmed") {
        return {c.value("status", "") == "True", c.value("reason", ""), c.value("message", "")};
      }
    }
    auto addrs = w.status.value("addresses", json::array());
    if (!addrs.empty()) {
      return {true, "Programmed",
              "ambit-control deployed it at " + addrs[0].value("value", std::string("?"))};
    }
    return {false, "Pending", "ambit-control has not deployed it yet (no status address)"};
  }
  if (!s.lab) return {false, "NoLab", "no lab is up to run it"};
  for (const auto& d : s.lab->daemons) {
    if (d.kind != "waypoint" || d.name != w.name + "." + w.namespace_name) continue;
    AdminEndpoint ready = d.health;
    ready.port = 15021;
    auto r = adminGet(ready, "/healthz/ready");
    if (r && r->status == 200) return {true, "Programmed", "pod on " + d.node + " is ready"};
    return {false, "NotReady",
            "pod on " + d.node +
                " is not ready: " + (r ? std::to_string(r->status) : r.error().message)};
  }
  return {false, "NoPod",
          "no lab pod runs this Gateway (the lab runs one with `lab up --waypoint`)"};
}

json infoJson(const WaypointInfo& w, const Programmed& p) {
  json j{{"namespace", w.namespace_name},
         {"name", w.name},
         {"traffic_type", w.traffic_type},
         {"gateway_class", w.gateway_class},
         {"programmed", p.ok},
         {"reason", p.reason},
         {"message", p.message}};
  if (!w.file.empty()) j["file"] = w.file;
  return j;
}

Result<std::string> listOrStatus(const WaypointOptions& o, bool status) {
  auto format = parseOutputFormat(o.output);
  AMBIT_TRY(format);
  auto store = openStore(o);
  AMBIT_TRY(store);
  std::string ns = o.all_namespaces ? "" : o.spec.namespace_name;
  auto waypoints = list(*store, ns);
  AMBIT_TRY(waypoints);
  json items = json::array();
  std::vector<std::string> headers;
  if (status) {
    headers = {"NAMESPACE", "NAME", "STATUS", "TYPE", "REASON", "MESSAGE"};
  } else {
    headers = {"NAME", "TRAFFIC TYPE", "PROGRAMMED"};
    if (o.all_namespaces) headers.insert(headers.begin(), "NAMESPACE");
  }
  Table t(headers);
  for (const auto& w : *waypoints) {
    if (status && w.name != o.spec.name && !o.all_namespaces) continue;
    Programmed p = programmed(*store, w);
    items.push_back(infoJson(w, p));
    if (status) {
      t.addRow(
          {w.namespace_name, w.name, p.ok ? "True" : "False", "Programmed", p.reason, p.message});
    } else if (o.all_namespaces) {
      t.addRow({w.namespace_name, w.name, w.traffic_type, p.ok ? "True" : "False"});
    } else {
      t.addRow({w.name, w.traffic_type, p.ok ? "True" : "False"});
    }
  }
  if (status && items.empty()) {
    return makeError("no waypoint {} in namespace {}", o.spec.name, o.spec.namespace_name);
  }
  if (!status && items.empty() && *format == OutputFormat::kShort) {
    return std::string(o.all_namespaces ? "No waypoints found.\n"
                                        : "No waypoints found in namespace " + ns + ".\n");
  }
  return renderOutput(*format, items, t);
}

Status applyOrDelete(const WaypointOptions& o, bool apply) {
  AMBIT_TRY(validateWaypointSpec(o.spec));
  auto store = openStore(o);
  AMBIT_TRY(store);
  if (store->kube) return apply ? kubeApply(*store->kube, o) : kubeDelete(*store->kube, o.spec);
  if (!apply) return deleteLocalWaypoint(store->config_dir, o.spec);
  AMBIT_TRY(applyLocalWaypoint(store->config_dir, o.spec));
  return o.enroll_namespace ? enrollLocalNamespace(store->config_dir, o.spec) : Status::ok();
}

CLI::App* verb(CLI::App& parent, WaypointOptions& o, const std::string& name,
               const std::string& help) {
  auto* cmd = parent.add_subcommand(name, help);
  cmd->add_option("-n,--namespace", o.spec.namespace_name, "namespace")->capture_default_str();
  if (name != "list") {
    cmd->add_option("--name", o.spec.name, "the waypoint (Gateway) name")->capture_default_str();
  }
  if (name == "generate") return cmd;
  cmd->add_option("--lab", o.lab, "the lab whose mesh to change or read")->capture_default_str();
  cmd->add_option("--config-dir", o.config_dir, "local mode: this config directory, not the lab's");
  cmd->add_option("--kubeconfig", o.kubeconfig,
                  "Kubernetes mode: this cluster (default: the lab's when it runs --kubernetes)");
  return cmd;
}

}  // namespace

void addWaypointCommands(CLI::App& app) {
  static WaypointOptions o;
  auto* wp = app.add_subcommand(
      "waypoint", "manage waypoints (Gateways of class istio-waypoint), like istioctl waypoint");
  requireKnownSubcommand(*wp);
  auto* gen = verb(*wp, o, "generate", "print the waypoint Gateway YAML");
  auto* apply = verb(*wp, o, "apply",
                     "create or update the waypoint: a file in the lab's config directory, or the "
                     "Gateway in Kubernetes");
  for (auto* cmd : {gen, apply}) {
    cmd->add_option("--for", o.spec.traffic_type,
                    "traffic the waypoint handles (label istio.io/waypoint-for): service, "
                    "workload, all or none")
        ->capture_default_str();
  }
  apply->add_flag("--enroll-namespace", o.enroll_namespace,
                  "also label the namespace istio.io/use-waypoint=<name>");
  auto* del = verb(*wp, o, "delete", "remove the waypoint apply created");
  auto* lst = verb(*wp, o, "list", "waypoints in the namespace: NAME TRAFFIC TYPE PROGRAMMED");
  auto* st = verb(*wp, o, "status",
                  "whether the waypoint runs: NAMESPACE NAME STATUS TYPE REASON MESSAGE");
  for (auto* cmd : {lst, st}) {
    cmd->add_flag("-A,--all-namespaces", o.all_namespaces, "every namespace");
    cmd->add_option("-o,--output", o.output, "short|json|yaml")->capture_default_str();
  }
  gen->callback([] {
    if (Status s = validateWaypointSpec(o.spec); !s) fail("generate", s.error());
    std::cout << gatewayYaml(o.spec);
  });
  apply->callback([] {
    if (Status s = applyOrDelete(o, true); !s) fail("apply", s.error());
    fmt::print("waypoint {}/{} applied\n", o.spec.namespace_name, o.spec.name);
  });
  del->callback([] {
    if (Status s = applyOrDelete(o, false); !s) fail("delete", s.error());
    fmt::print("waypoint {}/{} deleted\n", o.spec.namespace_name, o.spec.name);
  });
  lst->callback([] {
    auto out = listOrStatus(o, false);
    if (!out) fail("list", out.error());
    std::cout << *out;
  });
  st->callback([] {
    auto out = listOrStatus(o, true);
    if (!out) fail("status", out.error());
    std::cout << *out;
  });
}

}  // namespace ambit::cli
