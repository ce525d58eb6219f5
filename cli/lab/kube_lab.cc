#include "cli/lab/kube_lab.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "cli/lab/api_relay.h"
#include "cli/lab/lab.h"
#include "cli/lab/network.h"
#include "cli/lab/subprocess.h"
#include "common/log.h"

namespace ambit::lab {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using json = nlohmann::json;

constexpr const char* kAgentServiceAccount = "ambit-agent";
constexpr const char* kControlServiceAccount = "ambit-control";
constexpr const char* kContainer = "app";
constexpr int kTokenSeconds = 3600;
constexpr auto kRootCertTimeout = std::chrono::seconds(60);

std::string apiServer() { return fmt::format("https://{}:{}", kApiServiceIp, kApiServicePort); }
std::string kubeDir(const Topology& t) { return t.options.run_dir + "/kube"; }
std::string nodeAgentPod(const NodeSpec& n) { return "ambit-node-" + n.name; }
std::string clusterDaemonCgroup(const std::string& mount, const Topology& t,
                                const std::string& name) {
  return labCgroupRoot(mount, t) + "/system/cluster-" + name;
}

json labelsJson(const std::map<std::string, std::string>& labels) {
  json j = json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j;
}

json podObject(const PodSpec& p) {
  json container = {{"name", kContainer},
                    {"image", "ambit-sample-app"},
                    {"ports", json::array({{{"containerPort", kAppPort}, {"protocol", "TCP"}}})},
                    {"resources", {{"requests", {{"cpu", "10m"}}}}}};
  json spec = {{"nodeName", p.node},
               {"serviceAccountName", p.service_account},
               {"automountServiceAccountToken", false},
               {"containers", json::array({container})}};
  json metadata = {
      {"name", p.name}, {"namespace", p.namespace_name}, {"labels", labelsJson(p.labels)}};
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", spec}};
}

// The node DaemonSet's pod on `n`: what the agent's tokens are bound to.
json nodeAgentPodObject(const NodeSpec& n) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", nodeAgentPod(n)},
            {"namespace", kKubeNamespace},
            {"labels", {{"app", "ambit-node"}}}}},
          {"spec",
           {{"nodeName", n.name},
            {"serviceAccountName", kAgentServiceAccount},
            {"automountServiceAccountToken", false},
            {"hostNetwork", true},
            {"containers", {{{"name", "agent"}, {"image", "ambit-agent"}}}}}}};
}

json serviceObject(const ServiceSpec& s) {
  json ports = json::array();
  for (const auto& p : s.ports) {
    ports.push_back(
        {{"name", p.name}, {"port", p.port}, {"targetPort", p.target_port}, {"protocol", "TCP"}});
  }
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", s.name}, {"namespace", s.namespace_name}, {"labels", labelsJson(s.labels)}}},
      {"spec",
       {{"selector", labelsJson(s.selector)}, {"clusterIP", s.cluster_ipv4}, {"ports", ports}}}};
}

// What a user applies for a namespace waypoint (`istioctl waypoint generate`); ambit-control
// deploys it.
json waypointGatewayObject() {
  return {
      {"apiVersion", "gateway.networking.k8s.io/v1"},
      {"kind", "Gateway"},
      {"metadata",
       {{"name", kWaypointName},
        {"namespace", "default"},
        {"labels", {{"istio.io/waypoint-for", "service"}}}}},
      {"spec",
       {{"gatewayClassName", "istio-waypoint"},
        {"listeners", {{{"name", "mesh"}, {"port", kWaypointHbonePort}, {"protocol", "HBONE"}}}}}}};
}

// The lab runs images as the project's binaries: ".../ambit-waypoint:tag" -> ambit-waypoint.
std::string binaryOfImage(const std::string& image) {
  std::string name = image.substr(image.rfind('/') + 1);
  return name.substr(0, name.find_first_of(":@"));
}

Result<std::string> readAll(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errnoError(fmt::format("read {}", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The admin kubeconfig's trust anchor (inline or a file).
Result<std::string> apiCaPem(const kube::RestConfig& c) {
  if (!c.ca_pem.empty()) return c.ca_pem;
  if (!c.ca_file.empty()) return readAll(c.ca_file.string());
  return makeError("{} has no certificate-authority: the lab needs the API server's CA", c.source);
}

}  // namespace

std::string controlReplicaIp(int replica) { return fmt::format("172.30.0.{}", 1 + replica); }

std::string controlAddress(const Topology& t) {
  if (t.options.control_replicas <= 1) {
    return fmt::format("{}:{}", kUnderlayGatewayV4, kControlPort);
  }
  std::vector<std::string> addresses;
  for (int i = 0; i < t.options.control_replicas; ++i) {
    addresses.push_back(fmt::format("{}:{}", controlReplicaIp(i), kControlPort));
  }
  return fmt::format("ipv4:{}", fmt::join(addresses, ","));
}

Result<std::unique_ptr<KubeLab>> KubeLab::open(const Topology& t) {
  if (t.options.kubeconfig.empty()) {
    return makeError("--kubernetes needs --kubeconfig (a cluster-admin kubeconfig)");
  }
  if (t.options.control_replicas < 1 || t.options.control_replicas > 3) {
    return makeError("--control-replicas {}: 1 to 3", t.options.control_replicas);
  }
  auto api = KubeApi::open(t.options.kubeconfig);
  AMBIT_TRY(api);
  return std::unique_ptr<KubeLab>(new KubeLab(std::move(*api)));
}

Status KubeLab::prepare(Topology& t, Intent& intent, const std::string& mount) {
  AMBIT_TRY(routeToUnderlay(t));
  AMBIT_TRY(startApiRelay(t, intent, mount));
  AMBIT_TRY(createClusterObjects(t));
  for (auto& p : t.pods) {
    if (!deployedByControl(t, p)) AMBIT_TRY(createPod(p, intent));
  }
  return Status::ok();
}

Status KubeLab::routeToUnderlay(const Topology& t) {
  const std::string& ul = t.underlay_netns;
  AMBIT_TRY(
      ip(ul, {"addr", "replace", std::string(kUnderlayGatewayV4) + "/24", "dev", kUnderlayBridge}));
  AMBIT_TRY(
      ip(ul, {"addr", "replace", std::string(kApiServiceIp) + "/32", "dev", kUnderlayBridge}));
  for (int i = 1; i < t.options.control_replicas; ++i) {
    AMBIT_TRY(ip(ul, {"addr", "replace", controlReplicaIp(i) + "/32", "dev", kUnderlayBridge}));
  }
  for (const auto& n : t.nodes) {
    AMBIT_TRY(ip(n.netns, {"route", "replace", std::string(kApiServiceIp) + "/32", "via",
                           kUnderlayGatewayV4, "dev", kUplink}));
    // Answers to pods (a waypoint dials ambit-control as a cluster pod would).
    AMBIT_TRY(ip(
        ul, {"route", "replace", n.pod_cidr_v4, "via", n.underlay_ipv4, "dev", kUnderlayBridge}));
  }
  return Status::ok();
}

Status KubeLab::startApiRelay(const Topology& t, Intent& intent, const std::string& mount) {
  const kube::RestConfig& admin = api_->config();
  AMBIT_TRY(ensureCgroup(intent, labCgroupRoot(mount, t)));
  AMBIT_TRY(ensureCgroup(intent, labCgroupRoot(mount, t) + "/system"));
  AMBIT_TRY(ensureCgroup(intent, clusterDaemonCgroup(mount, t, "api-relay")));
  std::string host =
      admin.host.find(':') != std::string::npos ? "[" + admin.host + "]" : admin.host;
  LaunchSpec spec{
      .argv = {selfBinaryDir() + "/ambitctl", "lab", "api-relay", "--listen-netns",
               netnsPath(t.underlay_netns), "--listen",
               fmt::format("{}:{}", kApiServiceIp, kApiServicePort), "--upstream",
               host + ":" + admin.port},
      // Its own (the host's) netns: the upstream is the API server on the host's loopback.
      .netns_path = "/proc/self/ns/net",
      .cgroup_dir = clusterDaemonCgroup(mount, t, "api-relay"),
      .log_file = t.log_dir + "/cluster-api-relay.log"};
  return ensureProcess(intent, "daemon", "cluster/api-relay", spec);
}

Status KubeLab::createClusterObjects(const Topology& t) {
  std::set<std::string> namespaces{kKubeNamespace};
  for (const auto& p : t.pods) namespaces.insert(p.namespace_name);
  for (const auto& s : t.services) namespaces.insert(s.namespace_name);
  for (const auto& ns : namespaces) {
    json labels = json::object();
    if (ns != kKubeNamespace) labels["istio.io/dataplane-mode"] = "ambient";
    json body = {{"apiVersion", "v1"},
                 {"kind", "Namespace"},
                 {"metadata", {{"name", ns}, {"labels", labels}}}};
    AMBIT_TRY(api_->create("/api/v1/namespaces", body));
    if (!labels.empty()) {  // "default" exists already
      AMBIT_TRY(api_->patch("/api/v1/namespaces/" + ns, {{"metadata", {{"labels", labels}}}}));
    }
  }
  // ambit's own identities and their RBAC are the chart's (installed before `lab up`).
  for (const char* sa : {kControlServiceAccount, kAgentServiceAccount}) {
    auto got =
        api_->get(fmt::format("/api/v1/namespaces/{}/serviceaccounts/{}", kKubeNamespace, sa));
    AMBIT_TRY(got);
    if (!got->is_object()) {
      return makeError(
          "no ServiceAccount {}/{}: install the chart's service accounts and RBAC first, e.g. "
          "`helm template ambit deploy/helm/ambit -n {} --show-only templates/control/rbac.yaml "
          "--show-only templates/control/serviceaccount.yaml --show-only "
          "templates/node/rbac.yaml --show-only templates/node/serviceaccount.yaml | kubectl "
          "apply -f -`",
          kKubeNamespace, sa, kKubeNamespace);
    }
  }
  for (const auto& n : t.nodes) {
    AMBIT_TRY(
        api_->create("/api/v1/nodes",
                     {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", n.name}}}}));
    AMBIT_TRY(api_->create(fmt::format("/api/v1/namespaces/{}/pods", kKubeNamespace),
                           nodeAgentPodObject(n)));
  }
  for (const auto& s : t.services) {
    // A Service that exists (`up` resumed) cannot be POSTed again: its cluster IP is taken
    // (HTTP 422), which the API server checks before the name (409).
    const std::string collection = "/api/v1/namespaces/" + s.namespace_name + "/services";
    auto existing = api_->get(collection + "/" + s.name);
    AMBIT_TRY(existing);
    if (!existing->is_object()) AMBIT_TRY(api_->create(collection, serviceObject(s)));
  }
  if (t.options.waypoint) {
    auto gw = api_->create("/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways",
                           waypointGatewayObject());
    if (!gw) {
      return gw.error().context(
          "Gateway default/waypoint (are the Gateway API CRDs installed? "
          "deploy/manifests/crds.yaml)");
    }
  }
  return Status::ok();
}

Status KubeLab::createPod(PodSpec& p, Intent& intent) {
  AMBIT_TRY(
      api_->create("/api/v1/namespaces/" + p.namespace_name + "/serviceaccounts",
                   {{"apiVersion", "v1"},
                    {"kind", "ServiceAccount"},
                    {"metadata", {{"name", p.service_account}, {"namespace", p.namespace_name}}}}));
  auto pod = api_->create("/api/v1/namespaces/" + p.namespace_name + "/pods", podObject(p));
  if (!pod) return pod.error().context("pod " + p.name);
  std::string uid = (*pod)["metadata"].value("uid", "");
  if (uid.empty()) return makeError("pod {}: the API server returned no metadata.uid", p.name);
  if (std::string node = (*pod)["spec"].value("nodeName", ""); node != p.node) {
    return makeError("pod {}/{} exists on node '{}', not {}: delete it first", p.namespace_name,
                     p.name, node, p.node);
  }
  p.uid = uid;
  intent.state().pod_uids[p.name] = uid;
  return intent.save();
}

Status KubeLab::startControlPlane(const Topology& t, Intent& intent, const std::string& mount) {
  AMBIT_TRY(ensureDir(intent, kubeDir(t)));
  auto ca = apiCaPem(api_->config());
  AMBIT_TRY(ca);
  auto control_token = token(kControlServiceAccount, "", "");
  AMBIT_TRY(control_token);
  std::string token_file = kubeDir(t) + "/control-api-token";
  AMBIT_TRY(writeLabFile(intent, token_file, *control_token));
  std::string kubeconfig = kubeDir(t) + "/control.kubeconfig";
  AMBIT_TRY(writeLabFile(intent, kubeconfig, renderKubeconfig(apiServer(), *ca, token_file)));
  std::vector<std::string> server_names{fmt::format("ambit-control.{}.svc", kKubeNamespace)};
  for (int i = 0; i < t.options.control_replicas; ++i) server_names.push_back(controlReplicaIp(i));
  std::string log_file;
  for (int i = 0; i < t.options.control_replicas; ++i) {
    const std::string name = i == 0 ? "control" : fmt::format("control-{}", i);
    AMBIT_TRY(ensureCgroup(intent, clusterDaemonCgroup(mount, t, name)));
    const std::string ip = controlReplicaIp(i);
    LaunchSpec spec{
        .argv = {t.options.bin_dir + "/ambit-control", "--kubeconfig", kubeconfig, "--namespace",
                 kKubeNamespace, "--instance", t.options.name + "-" + name, "--listen",
                 fmt::format("{}:{}", ip, kControlPort), "--monitoring-address", ip,
                 "--monitoring-port", std::to_string(kControlMonitoringPort), "--server-names",
                 fmt::format("{}", fmt::join(server_names, ",")),
                 // No cluster DNS in the lab: waypoints dial ambit-control by its address.
                 "--waypoint-control-address", controlAddress(t)},
        .netns_path = netnsPath(t.underlay_netns),
        .cgroup_dir = clusterDaemonCgroup(mount, t, name),
        .log_file = t.log_dir + "/cluster-" + name + ".log"};
    if (log_file.empty()) log_file = spec.log_file;
    AMBIT_TRY(ensureProcess(intent, "daemon", "cluster/" + name, spec));
  }

  std::string target =
      fmt::format("/api/v1/namespaces/{}/configmaps/ambit-ca-root-cert", kKubeNamespace);
  auto deadline = std::chrono::steady_clock::now() + kRootCertTimeout;
  std::string root;
  while (root.empty()) {
    auto cm = api_->get(target);
    AMBIT_TRY(cm);
    if (cm->is_object()) root = (*cm)["data"].value("root-cert.pem", "");
    if (!root.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return makeError("ambit-control published no root certificate ({}) within {}s; see {}",
                       target, kRootCertTimeout.count(), log_file);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  AMBIT_TRY(writeLabFile(intent, kubeDir(t) + "/root-cert.pem", root));
  for (const auto& n : t.nodes) AMBIT_TRY(writeNodeCredentials(t, intent, n));
  return Status::ok();
}

bool deployedByControl(const Topology& t, const PodSpec& p) {
  return t.options.kubernetes && t.options.waypoint && p.name == kWaypointName;
}

Status KubeLab::deployWaypoint(Topology& t, Intent& intent, const std::string& mount) {
  PodSpec* p = nullptr;
  for (auto& pod : t.pods) {
    if (deployedByControl(t, pod)) p = &pod;
  }
  if (p == nullptr) return Status::ok();
  const std::string target =
      fmt::format("/apis/apps/v1/namespaces/{}/deployments/{}", p->namespace_name, kWaypointName);
  auto deadline = std::chrono::steady_clock::now() + kRootCertTimeout;
  json deployment;
  while (!deployment.is_object()) {
    auto got = api_->get(target);
    AMBIT_TRY(got);
    deployment = std::move(*got);
    if (deployment.is_object()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return makeError("ambit-control created no waypoint Deployment ({}) within {}s; see {}",
                       target, kRootCertTimeout.count(), t.log_dir + "/cluster-control.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // What the Deployment controller and the scheduler would do: a Pod from the template, here.
  const json tmpl = deployment["spec"].value("template", json::object());
  json pod_spec = tmpl.value("spec", json::object());
  const json containers = pod_spec.value("containers", json::array());
  if (containers.size() != 1) {
    return makeError("{}: the lab runs waypoint pods of one container, found {}", target,
                     containers.size());
  }
  pod_spec["nodeName"] = p->node;
  json metadata = tmpl.value("metadata", json::object());
  metadata["name"] = p->name;
  metadata["namespace"] = p->namespace_name;
  auto created = api_->create(
      "/api/v1/namespaces/" + p->namespace_name + "/pods",
      {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", pod_spec}});
  if (!created) return created.error().context("waypoint pod " + p->name);
  p->uid = (*created)["metadata"].value("uid", "");
  p->service_account = pod_spec.value("serviceAccountName", p->name);
  if (p->uid.empty()) return makeError("pod {}: the API server returned no metadata.uid", p->name);
  intent.state().pod_uids[p->name] = p->uid;
  AMBIT_TRY(intent.save());
  std::string container_cgroup = podCgroup(mount, t, *p);
  AMBIT_TRY(ensureCgroup(intent, fs::path(container_cgroup).parent_path().string()));
  AMBIT_TRY(ensureCgroup(intent, container_cgroup));

  // Volumes as the kubelet fills them, each in a directory of its own: projected
  // service-account tokens (audience, bound to the pod) and ConfigMaps.
  const std::string pod_dir = kubeDir(t) + "/pods/" + p->name;
  std::map<std::string, std::string> volume_dirs;
  for (const auto& v : pod_spec.value("volumes", json::array())) {
    const std::string name = v.value("name", "");
    const std::string dir = pod_dir + "/" + name;
    AMBIT_TRY(ensureDir(intent, dir));
    volume_dirs[name] = dir;
    if (v.contains("configMap")) {
      const std::string cm_name = v["configMap"].value("name", "");
      auto cm =
          api_->get(fmt::format("/api/v1/namespaces/{}/configmaps/{}", p->namespace_name, cm_name));
      AMBIT_TRY(cm);
      if (!cm->is_object()) {
        return makeError("waypoint pod volume {}: no ConfigMap {}/{}", name, p->namespace_name,
                         cm_name);
      }
      for (const auto& [key, value] : (*cm)["data"].items()) {
        AMBIT_TRY(writeLabFile(intent, dir + "/" + key, value.get<std::string>()));
      }
      continue;
    }
    for (const auto& source : v["projected"].value("sources", json::array())) {
      if (!source.contains("serviceAccountToken")) continue;
      const json& sat = source["serviceAccountToken"];
      auto tok = token(p->service_account, sat.value("audience", ""), p->name, p->namespace_name);
      AMBIT_TRY(tok);
      AMBIT_TRY(writeLabFile(intent, dir + "/" + sat.value("path", "token"), *tok));
    }
  }
  // The container's argv, with each mount path pointing at its volume's directory (the lab
  // runs no mount namespaces).
  const json& c = containers[0];
  p->command = {t.options.bin_dir + "/" + binaryOfImage(c.value("image", ""))};
  for (const auto& arg : c.value("args", json::array())) {
    std::string a = arg.get<std::string>();
    for (const auto& m : c.value("volumeMounts", json::array())) {
      const std::string mount_path = m.value("mountPath", "");
      auto dir = volume_dirs.find(m.value("name", ""));
      if (dir != volume_dirs.end() && !mount_path.empty() && a.rfind(mount_path, 0) == 0) {
        a = dir->second + a.substr(mount_path.size());
      }
    }
    p->command.push_back(a);
  }
  for (auto& a : certTtlArgs(t.options)) p->command.push_back(std::move(a));
  p->command.insert(p->command.end(), t.options.waypoint_args.begin(),
                    t.options.waypoint_args.end());
  logInfo("waypoint pod {}/{} (uid {}) from Deployment {}: {}", p->namespace_name, p->name, p->uid,
          target, fmt::join(p->command, " "));
  return Status::ok();
}

Result<std::string> KubeLab::token(const std::string& service_account, const std::string& audience,
                                   const std::string& bound_pod, const std::string& ns) {
  json spec = {{"expirationSeconds", kTokenSeconds}};
  if (!bound_pod.empty()) {
    auto pod = api_->get(fmt::format("/api/v1/namespaces/{}/pods/{}", ns, bound_pod));
    AMBIT_TRY(pod);
    if (!pod->is_object()) return makeError("pod {}/{} is gone", ns, bound_pod);
    spec["boundObjectRef"] = {{"kind", "Pod"},
                              {"apiVersion", "v1"},
                              {"name", bound_pod},
                              {"uid", (*pod)["metadata"].value("uid", "")}};
  }
  if (!audience.empty()) spec["audiences"] = {audience};
  auto r = api_->call(
      http::verb::post,
      fmt::format("/api/v1/namespaces/{}/serviceaccounts/{}/token", ns, service_account),
      json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}});
  AMBIT_TRY(r);
  if (r->status != 201) return makeError("TokenRequest: HTTP {}: {}", r->status, r->body);
  auto j = json::parse(r->body, nullptr, false);
  std::string tok = j.is_object() ? j["status"].value("token", "") : "";
  if (tok.empty()) return makeError("TokenRequest: no token in the answer");
  return tok;
}

Status KubeLab::writeNodeCredentials(const Topology& t, Intent& intent, const NodeSpec& n) {
  // The API server's own audience / ambit-control's.
  auto api_token = token(kAgentServiceAccount, "", nodeAgentPod(n));
  AMBIT_TRY(api_token);
  auto control_token = token(kAgentServiceAccount, "ambit", nodeAgentPod(n));
  AMBIT_TRY(control_token);
  auto ca = apiCaPem(api_->config());
  AMBIT_TRY(ca);
  std::string dir = kubeDir(t);
  std::string api_token_file = dir + "/" + n.name + "-api-token";
  AMBIT_TRY(writeLabFile(intent, api_token_file, *api_token));
  AMBIT_TRY(writeLabFile(intent, dir + "/" + n.name + "-ambit-token", *control_token));
  return writeLabFile(intent, dir + "/" + n.name + "-agent.kubeconfig",
                      renderKubeconfig(apiServer(), *ca, api_token_file));
}

Status KubeLab::reportPodsRunning(const Topology& t) {
  for (const auto& p : t.pods) AMBIT_TRY(reportPodRunning(t, p));
  return Status::ok();
}

Status KubeLab::reportPodRunning(const Topology& t, const PodSpec& p) {
  const NodeSpec* node = t.findNode(p.node);
  std::string target = fmt::format("/api/v1/namespaces/{}/pods/{}", p.namespace_name, p.name);
  auto pod = api_->get(target);
  AMBIT_TRY(pod);
  if (!pod->is_object()) return makeError("pod {}/{} was deleted", p.namespace_name, p.name);
  json& status = (*pod)["status"];
  status["phase"] = "Running";
  status["hostIP"] = node->underlay_ipv4;
  status["podIP"] = p.ipv4;
  status["podIPs"] = {{{"ip", p.ipv4}}, {{"ip", p.ipv6}}};
  status["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  auto r = api_->call(http::verb::put, target + "/status", *pod);
  AMBIT_TRY(r);
  if (r->status != 200) {
    return makeError("PUT {}/status: HTTP {}: {}", target, r->status, r->body);
  }
  return Status::ok();
}

Status KubeLab::deletePod(const PodSpec& p, const std::function<Status()>& stop) {
  std::string target = fmt::format("/api/v1/namespaces/{}/pods/{}", p.namespace_name, p.name);
  auto graceful = api_->call(http::verb::delete_, target);
  AMBIT_TRY(graceful);
  if (graceful->status != 200 && graceful->status != 202 && graceful->status != 404) {
    return makeError("DELETE {}: HTTP {}: {}", target, graceful->status, graceful->body);
  }
  AMBIT_TRY(stop());
  auto final_delete =
      api_->call(http::verb::delete_, target,
                 json{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}});
  AMBIT_TRY(final_delete);
  if (final_delete->status != 200 && final_delete->status != 202 && final_delete->status != 404) {
    return makeError("DELETE {}: HTTP {}: {}", target, final_delete->status, final_delete->body);
  }
  return Status::ok();
}

}  // namespace ambit::lab
