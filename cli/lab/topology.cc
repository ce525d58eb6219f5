#include "cli/lab/topology.h"

#include <unistd.h>

#include <charconv>
#include <climits>
#include <filesystem>

namespace ambit::lab {
namespace {

Status validateName(const std::string& name) {
  constexpr size_t kMaxName = 16;
  bool ok = !name.empty() && name.size() <= kMaxName && name[0] >= 'a' && name[0] <= 'z';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (ok) return Status::ok();
  return makeError(
      "invalid lab name '{}': use 1-{} characters [a-z0-9-], starting with a letter "
      "(it prefixes every netns and cgroup the lab creates)",
      name, kMaxName);
}

NodeSpec makeNode(const std::string& lab, int i) {
  NodeSpec n;
  n.index = i;
  n.name = fmt::format("node{}", i);
  n.netns = fmt::format("{}-{}", lab, n.name);
  n.underlay_ipv4 = fmt::format("172.30.0.{}", 10 + i);
  n.underlay_ipv6 = fmt::format("fd00:172:30::{}", 10 + i);
  n.pod_cidr_v4 = fmt::format("10.244.{}.0/24", i);
  n.pod_cidr_v6 = fmt::format("fd00:10:244:{}::/64", i);
  n.gateway_v4 = fmt::format("10.244.{}.1", i);
  n.gateway_v6 = fmt::format("fd00:10:244:{}::1", i);
  n.underlay_port = fmt::format("ambitu{}", i);
  return n;
}

void addPod(Topology& t, const std::string& name, const NodeSpec& node,
            std::map<std::string, std::string> labels, const std::string& sa) {
  int host = kFirstPodHost;
  for (const auto& p : t.pods) {
    if (p.node == node.name) host = std::max(host, p.host + 1);
  }
  PodSpec p;
  p.name = name;
  p.node = node.name;
  p.host = host;
  p.labels = std::move(labels);
  p.service_account = sa;
  p.netns = fmt::format("{}-pod-{}", t.options.name, name);
  p.ipv4 = fmt::format("10.244.{}.{}", node.index, host);
  p.ipv6 = fmt::format("fd00:10:244:{}::{}", node.index, host);
  p.node_port = fmt::format("ambitv{}", host);
  t.pods.push_back(std::move(p));
}

void addDefaultWorkloads(Topology& t) {
  const NodeSpec& n1 = t.nodes.front();
  const NodeSpec& n2 = t.nodes.size() > 1 ? t.nodes[1] : t.nodes.front();
  addPod(t, "client", n1, {{"app", "client"}}, "client");
  addPod(t, "my-app-v1", n1, {{"app", "my-app"}, {"version", "v1"}}, "my-app");
  addPod(t, "my-app-v2", n2, {{"app", "my-app"}, {"version", "v2"}}, "my-app");
  t.services.push_back(ServiceSpec{.name = "my-app",
                                   .selector = {{"app", "my-app"}},
                                   .cluster_ipv4 = "10.96.0.10",
                                   .cluster_ipv6 = "fd00:10:96::10"});
  t.services.push_back(ServiceSpec{.name = "client",
                                   .selector = {{"app", "client"}},
                                   .cluster_ipv4 = "10.96.0.11",
                                   .cluster_ipv6 = "fd00:10:96::11"});
}

// The namespace's waypoint as a pod of its own (not captured), bound to Service my-app.
void addWaypoint(Topology& t) {
  addPod(t, kWaypointName, t.nodes.front(),
         {{"istio.io/dataplane-mode", "none"},
          {"gateway.networking.k8s.io/gateway-name", kWaypointName}},
         kWaypointName);
  PodSpec& p = t.pods.back();
  p.command = {"{bin_dir}/ambit-waypoint",
               "--config-dir",
               "{config_dir}",
               "--ca-address",
               "unix:{state_dir}/run/ca.sock",
               "--node",
               "{node}",
               "--namespace",
               p.namespace_name,
               "--gateway",
               kWaypointName,
               "--service-account",
               kWaypointName};
  for (auto& a : certTtlArgs(t.options)) p.command.push_back(std::move(a));
  p.command.insert(p.command.end(), t.options.waypoint_args.begin(), t.options.waypoint_args.end());
  p.ready_port = kWaypointHbonePort;
  if (t.options.kubernetes) return;  // bound by the user with kubectl (kube_lab.h)
  for (auto& s : t.services) {
    if (s.name == "my-app") s.labels["istio.io/use-waypoint"] = kWaypointName;
  }
}

Status addExtraPod(Topology& t, const ExtraPod& e) {
  const NodeSpec* node = t.findNode(e.node);
  if (node == nullptr) return makeError("pod {}: no node '{}' in the lab", e.name, e.node);
  if (t.findPod(e.name) != nullptr) return makeError("the lab already has a pod '{}'", e.name);
  bool valid = !e.name.empty() && e.name.size() <= 40;
  for (char c : e.name)
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!valid) return makeError("invalid pod name '{}': 1-40 characters [a-z0-9-]", e.name);
  addPod(t, e.name, *node, e.labels, e.service_account.empty() ? e.name : e.service_account);
  t.pods.back().namespace_name = e.namespace_name;
  return Status::ok();
}

Status applyCertTtl(Topology& t) {
  if (!t.options.cert_ttl_seconds) return Status::ok();
  int64_t ttl = *t.options.cert_ttl_seconds;
  if (ttl < kMinCertTtlSeconds || ttl > kMaxCertTtlSeconds) {
    return makeError(
        "invalid --cert-ttl {}: the workload certificate TTL is whole seconds from {} to {} (one "
        "year)",
        ttl, kMinCertTtlSeconds, kMaxCertTtlSeconds);
  }
  for (auto& d : t.options.daemons) {
    if (d.name != "ztunnel") continue;
    for (auto& a : certTtlArgs(t.options)) d.args.push_back(std::move(a));
  }
  return Status::ok();
}

}  // namespace

std::vector<std::string> certTtlArgs(const LabOptions& options) {
  if (!options.cert_ttl_seconds) return {};
  return {"--cert-ttl", std::to_string(*options.cert_ttl_seconds)};
}

Result<int64_t> parseCertTtl(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return makeError("invalid --cert-ttl '{}': give the TTL in whole seconds, e.g. --cert-ttl 180",
                     text);
  }
  return v;
}

Result<ExtraPod> parseExtraPod(const std::string& spec) {
  ExtraPod pod;
  auto colon = spec.find(':');
  pod.name = spec.substr(0, colon);
  pod.node = colon == std::string::npos ? "node1" : spec.substr(colon + 1);
  if (pod.name.empty() || pod.node.empty() || pod.node.find(':') != std::string::npos) {
    return makeError("invalid --extra-pod '{}': give NAME or NAME:NODE (e.g. extra:node2)", spec);
  }
  pod.labels = {{"app", pod.name}};
  return pod;
}

std::string PodSpec::version() const {
  auto it = labels.find("version");
  return it == labels.end() ? "latest" : it->second;
}

const NodeSpec* Topology::findNode(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const PodSpec* Topology::findPod(const std::string& name) const {
  for (const auto& p : pods) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string selfBinaryDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

Result<Topology> buildTopology(const LabOptions& options) {
  AMBIT_TRY(validateName(options.name));
  if (options.nodes < 1 || options.nodes > kMaxNodes) {
    return makeError("invalid --nodes {}: the lab supports 1 to {} nodes (one /24 pod CIDR each)",
                     options.nodes, kMaxNodes);
  }
  Topology t;
  t.options = options;
  AMBIT_TRY(applyCertTtl(t));
  if (t.options.run_dir.empty()) t.options.run_dir = fmt::format("/run/{}-lab", options.name);
  if (t.options.config_dir.empty()) t.options.config_dir = t.options.run_dir + "/config";
  if (t.options.bin_dir.empty()) t.options.bin_dir = selfBinaryDir();
  for (const auto& d : t.options.daemons) {
    if (d.name.empty() || d.binary.empty()) {
      return makeError("node daemon spec needs a name and a binary (got name '{}')", d.name);
    }
  }
  t.underlay_netns = options.name + "-underlay";
  t.state_file = t.options.run_dir + "/state.json";
  t.log_dir = t.options.run_dir + "/logs";
  t.node_state_root = t.options.run_dir + "/nodes";
  t.cgroup_subdir = options.name + "-lab";
  for (int i = 1; i <= options.nodes; ++i) t.nodes.push_back(makeNode(options.name, i));
  addDefaultWorkloads(t);
  if (!options.waypoint && !options.waypoint_args.empty()) {
    return makeError("--waypoint-arg '{}' needs --waypoint (there is no waypoint pod without it)",
                     options.waypoint_args.front());
  }
  if (options.waypoint) addWaypoint(t);
  for (const auto& e : options.extra_pods) AMBIT_TRY(addExtraPod(t, e));
  return t;
}

Result<std::string> expandPlaceholders(const std::string& tmpl,
                                       const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find('{', pos);
    if (open == std::string::npos) break;
    size_t close = tmpl.find('}', open);
    if (close == std::string::npos) return makeError("unclosed '{{' in '{}'", tmpl);
    std::string key = tmpl.substr(open + 1, close - open - 1);
    auto it = vars.find(key);
    if (it == vars.end()) return makeError("unknown placeholder {{{}}} in '{}'", key, tmpl);
    out += tmpl.substr(pos, open - pos);
    out += it->second;
    pos = close + 1;
  }
  out += tmpl.substr(std::min(pos, tmpl.size()));
  return out;
}

}  // namespace ambit::lab
