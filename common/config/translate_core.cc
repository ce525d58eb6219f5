// Namespace, Pod, Service and Gateway (waypoint) translation.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <span>

#include "common/config/loader.h"
#include "common/config/model.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

constexpr std::string_view kDataplaneMode = "istio.io/dataplane-mode";
constexpr std::string_view kUseWaypoint = "istio.io/use-waypoint";
constexpr std::string_view kWaypointFor = "istio.io/waypoint-for";

std::string labelOr(const std::map<std::string, std::string>& labels,
                    std::span<const std::string_view> keys, const std::string& fallback) {
  for (std::string_view k : keys) {
    auto it = labels.find(std::string(k));
    if (it != labels.end() && !it->second.empty()) return it->second;
  }
  return fallback;
}

std::string labelOr(const std::map<std::string, std::string>& labels, std::string_view key,
                    const std::string& fallback) {
  return labelOr(labels, std::span<const std::string_view>(&key, 1), fallback);
}

// Checks an enrollment or waypoint label's value; `allowed` empty = any valid name.
void checkMeshLabel(const std::map<std::string, std::string>& labels, std::string_view key,
                    std::initializer_list<std::string_view> allowed,
                    std::vector<KeyedProblem>& problems) {
  auto it = labels.find(std::string(key));
  if (it == labels.end()) return;
  if (allowed.size() == 0) {
    if (auto bad = checkResourceName(it->second)) {
      problems.push_back({it->first, fmt::format("label {}: {}", key, *bad)});
    }
    return;
  }
  if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end()) {
    problems.push_back({it->first, fmt::format("label {}: unknown value '{}', expected one of: {}",
                                               key, it->second, fmt::join(allowed, ", "))});
  }
}

void failAtLabels(TranslateContext& ctx, const std::vector<KeyedProblem>& problems) {
  const YAML::Node at = child(child(ctx.res.doc, "metadata"), "labels");
  for (const auto& [key, reason] : problems) ctx.reader.fail(child(at, key), reason);
}

void checkMeshLabel(TranslateContext& ctx, const std::map<std::string, std::string>& labels,
                    std::string_view key, std::initializer_list<std::string_view> allowed) {
  std::vector<KeyedProblem> problems;
  checkMeshLabel(labels, key, allowed, problems);
  failAtLabels(ctx, problems);
}

void checkMeshLabels(TranslateContext& ctx, const std::map<std::string, std::string>& labels) {
  failAtLabels(ctx, meshLabelProblems(labels));
}

void readPodAnnotations(TranslateContext& ctx, v1::Workload& w) {
  const YAML::Node meta = child(ctx.res.doc, "metadata");
  const auto ann = ctx.reader.stringMap(meta, "annotations", "metadata");
  const YAML::Node at = child(meta, "annotations");
  for (const auto& [key, reason] : applyPodAnnotations(ann, w))
    ctx.reader.fail(child(at, key), reason);
}

}  // namespace

std::vector<KeyedProblem> meshLabelProblems(const std::map<std::string, std::string>& labels) {
  std::vector<KeyedProblem> problems;
  checkMeshLabel(labels, kDataplaneMode, {"ambient", "none"}, problems);
  checkMeshLabel(labels, kUseWaypoint, {}, problems);
  return problems;
}

std::vector<KeyedProblem> applyPodAnnotations(const std::map<std::string, std::string>& annotations,
                                              v1::Workload& w) {
  std::vector<KeyedProblem> problems;
  const auto& ann = annotations;
  if (auto it = ann.find("ambit.dev/netns"); it != ann.end()) w.set_netns_path(it->second);
  if (auto it = ann.find("ambit.dev/bypass-inbound-ports"); it != ann.end()) {
    for (const auto& part : splitCommaList(it->second)) {
      uint32_t p = 0;
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p);
      if (ec != std::errc() || ptr != part.data() + part.size() || p == 0 || p > 65535) {
        problems.push_back({it->first, fmt::format("annotation ambit.dev/bypass-inbound-ports: "
                                                   "invalid port number '{}'",
                                                   part)});
        continue;
      }
      w.add_bypass_inbound_ports(p);
    }
  }
  if (auto it = ann.find("ambit.dev/bypass-outbound-cidrs"); it != ann.end()) {
    for (const auto& part : splitCommaList(it->second)) {
      if (auto bad = checkCidr(part)) {
        problems.push_back(
            {it->first, fmt::format("annotation ambit.dev/bypass-outbound-cidrs: {}", *bad)});
        continue;
      }
      w.add_bypass_outbound_cidrs(part);
    }
  }
  return problems;
}

void setCanonicalNames(const std::map<std::string, std::string>& labels, const std::string& name,
                       v1::Workload& w) {
  w.set_canonical_name(labelOr(labels, kCanonicalNameLabels, name));
  w.set_canonical_revision(labelOr(labels, kCanonicalRevisionLabels, "latest"));
}

namespace {

void readPodIps(TranslateContext& ctx, v1::Workload& w, bool host_network) {
  const YAML::Node status = child(ctx.res.doc, "status");
  std::vector<std::pair<std::string, YAML::Node>> ips;
  if (auto ip = ctx.reader.str(status, "podIP", "status"))
    ips.emplace_back(*ip, child(status, "podIP"));
  auto list = ctx.reader.list(status, "podIPs", "status");
  for (size_t i = 0; i < list.size(); ++i) {
    if (auto ip = ctx.reader.str(list[i], "ip", fieldPath("status.podIPs", i), true)) {
      ips.emplace_back(*ip, child(list[i], "ip"));
    }
  }
  for (const auto& [text, at] : ips) {
    const auto ip = parseIp(text);
    if (!ip) {
      ctx.reader.fail(at, fmt::format("invalid pod IP '{}'", text));
      continue;
    }
    if (std::find(w.addresses().begin(), w.addresses().end(), *ip) != w.addresses().end()) {
      continue;
    }
    w.add_addresses(*ip);
    if (!host_network) ctx.model.ip_claims.push_back(IpClaim{*ip, at, &ctx.res});
  }
}

// What the EndpointSlice controller reads of a pod besides its IPs: whether it may serve (Ready
// condition True and not terminating; a pod without conditions, as in local-mode files, is
// ready) and its named container ports.
void readPodServing(TranslateContext& ctx, const YAML::Node& spec, v1::Workload& w) {
  const YAML::Node status = child(ctx.res.doc, "status");
  bool ready = !present(child(status, "conditions"));
  const auto conditions = ctx.reader.list(status, "conditions", "status");
  for (size_t i = 0; i < conditions.size(); ++i) {
    const std::string p = fieldPath("status.conditions", i);
    if (ctx.reader.str(conditions[i], "type", p).value_or("") == "Ready") {
      ready = ctx.reader.str(conditions[i], "status", p).value_or("") == "True";
    }
  }
  const bool terminating = present(child(child(ctx.res.doc, "metadata"), "deletionTimestamp"));
  w.set_not_ready(!ready || terminating);
  const auto containers = ctx.reader.list(spec, "containers", "spec");
  for (size_t i = 0; i < containers.size(); ++i) {
    const std::string ports_path = fieldPath(fieldPath("spec.containers", i), "ports");
    const auto ports = ctx.reader.list(containers[i], "ports", fieldPath("spec.containers", i));
    for (size_t j = 0; j < ports.size(); ++j) {
      const std::string p = fieldPath(ports_path, j);
      const auto name = ctx.reader.str(ports[j], "name", p);
      if (!name || name->empty()) continue;
      if (auto port = ctx.reader.integer(ports[j], "containerPort", p, 1, 65535, true)) {
        (*w.mutable_named_ports())[*name] = static_cast<uint32_t>(*port);
      }
    }
  }
}

}  // namespace

void translateNamespace(TranslateContext& ctx) {
  ctx.reader.checkFields(child(ctx.res.doc, "spec"), "spec", {"finalizers"});
  v1::Namespace ns;
  ns.set_name(ctx.res.name);
  const auto labels = readLabels(ctx);
  checkMeshLabels(ctx, labels);
  ns.mutable_labels()->insert(labels.begin(), labels.end());
  ns.set_ambient(labelOr(labels, kDataplaneMode, "") == "ambient");
  const std::string wp = labelOr(labels, kUseWaypoint, "");
  if (!wp.empty() && wp != "none") ns.set_waypoint(fmt::format("{}/{}", ctx.res.name, wp));
  ctx.model.namespaces.push_back({std::move(ns), &ctx.res});
}

namespace {

// Strictness for the PodSpec/PodStatus fields ambit does not read: known fields are accepted
// as-is so real manifests load; anything else is a typo worth reporting.
void checkPodShape(TranslateContext& ctx, const YAML::Node& spec) {
  ctx.reader.checkFields(spec, "spec", kPodSpecFields);
  ctx.reader.checkFields(child(ctx.res.doc, "status"), "status", kPodStatusFields);
}

}  // namespace

// Every field of PodSpec and PodStatus in k8s.io/api v0.37 (a v1.37 kubelet writes the pod-level
// status.resources and status.allocatedResources): an API server of a newer release may add
// fields, which would then be refused until listed.
// clang-format off
const std::vector<std::string_view> kPodSpecFields = {
    "nodeName", "serviceAccountName", "serviceAccount", "containers", "initContainers",
    "ephemeralContainers", "volumes", "hostNetwork", "hostPID", "hostIPC", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "dnsConfig",
    "securityContext", "nodeSelector", "affinity", "tolerations", "priorityClassName",
    "priority", "preemptionPolicy", "schedulerName", "automountServiceAccountToken",
    "hostname", "subdomain", "imagePullSecrets", "enableServiceLinks", "runtimeClassName",
    "topologySpreadConstraints", "hostAliases", "shareProcessNamespace", "readinessGates",
    "overhead", "os", "setHostnameAsFQDN", "resourceClaims", "schedulingGates", "hostUsers",
    "resources", "hostnameOverride", "workloadRef", "schedulingGroup", "evictionResponders"};
const std::vector<std::string_view> kPodStatusFields = {
    "podIP", "podIPs", "phase", "conditions", "hostIP", "hostIPs", "startTime",
    "containerStatuses", "initContainerStatuses", "qosClass", "message", "reason",
    "nominatedNodeName", "ephemeralContainerStatuses", "resize", "resourceClaimStatuses",
    "observedGeneration", "extendedResourceClaimStatus", "allocatedResources", "resources",
    "nodeAllocatableResourceClaimStatuses", "volumeHealth"};
// clang-format on
const std::vector<std::string_view> kTopLevelFields = {"apiVersion", "kind", "metadata", "spec",
                                                       "status"};
const std::vector<std::string_view> kCanonicalNameLabels = {"service.istio.io/canonical-name",
                                                            "app.kubernetes.io/name", "app"};
const std::vector<std::string_view> kCanonicalRevisionLabels = {
    "service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"};

bool podReadsField(std::string_view section, std::string_view key) {
  if (section == "spec") {
    return key == "nodeName" || key == "serviceAccountName" || key == "serviceAccount" ||
           key == "hostNetwork" || key == "containers";
  }
  if (section == "status") {
    return key == "phase" || key == "podIP" || key == "podIPs" || key == "conditions";
  }
  return true;
}

void translatePod(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  checkPodShape(ctx, spec);
  // A pod that ran to completion is no workload: its IPs go back to the node's pool.
  const std::string phase =
      ctx.reader.str(child(ctx.res.doc, "status"), "phase", "status").value_or("");
  if (phase == "Succeeded" || phase == "Failed") return;
  v1::Workload w;
  // Kubernetes' metadata.uid when the pod has one (objects from the API server), else the
  // local-mode "<namespace>/<name>".
  const auto uid = ctx.reader.str(child(ctx.res.doc, "metadata"), "uid", "metadata");
  w.set_uid(uid && !uid->empty() ? *uid : fmt::format("{}/{}", ctx.res.ns, ctx.res.name));
  w.set_name(ctx.res.name);
  w.set_namespace_(ctx.res.ns);
  w.set_trust_domain(ctx.options.trust_domain);
  w.set_node(ctx.reader.str(spec, "nodeName", "spec").value_or(""));
  w.set_service_account(
      ctx.reader.str(spec, "serviceAccountName", "spec")
          .value_or(ctx.reader.str(spec, "serviceAccount", "spec").value_or("default")));
  const auto labels = readLabels(ctx);
  checkMeshLabels(ctx, labels);
  w.mutable_labels()->insert(labels.begin(), labels.end());
  setCanonicalNames(labels, ctx.res.name, w);
  readPodAnnotations(ctx, w);
  const bool host_network = ctx.reader.boolean(spec, "hostNetwork", "spec").value_or(false);
  readPodIps(ctx, w, host_network);
  readPodServing(ctx, spec, w);
  ctx.model.workloads.push_back({std::move(w), &ctx.res});
}

namespace {

void readServicePort(TranslateContext& ctx, const YAML::Node& p, const std::string& path,
                     v1::Service& svc) {
  if (!ctx.reader.checkFields(
          p, path, {"name", "port", "targetPort", "protocol", "appProtocol", "nodePort"})) {
    return;
  }
  v1::ServicePort sp;
  sp.set_name(ctx.reader.str(p, "name", path).value_or(""));
  const auto port = ctx.reader.integer(p, "port", path, 1, 65535, true);
  if (!port) return;
  sp.set_port(static_cast<uint32_t>(*port));
  sp.set_target_port(sp.port());
  const YAML::Node tp = child(p, "targetPort");
  if (present(tp) && tp.IsScalar() && !tp.Scalar().empty() &&
      std::isdigit(static_cast<unsigned char>(tp.Scalar()[0]))) {
    const auto t = ctx.reader.integerValue(tp, fieldPath(path, "targetPort"), 1, 65535);
    sp.set_target_port(t ? static_cast<uint32_t>(*t) : 0);
  } else if (auto name = ctx.reader.str(p, "targetPort", path)) {
    sp.set_target_port(0);
    sp.set_target_port_name(*name);
  }
  const std::string proto = ctx.reader.str(p, "protocol", path).value_or("TCP");
  if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
    ctx.reader.fail(child(p, "protocol"),
                    fmt::format("{}.protocol: unknown protocol '{}', expected "
                                "TCP, UDP or SCTP",
                                path, proto));
  }
  sp.set_protocol(proto);
  sp.set_app_protocol(ctx.reader.str(p, "appProtocol", path).value_or(""));
  ctx.reader.integer(p, "nodePort", path, 1, 65535);
  svc.add_ports()->Swap(&sp);
}

void readClusterIps(TranslateContext& ctx, const YAML::Node& spec, v1::Service& svc) {
  std::vector<std::pair<std::string, YAML::Node>> ips;
  if (auto ip = ctx.reader.str(spec, "clusterIP", "spec"))
    ips.emplace_back(*ip, child(spec, "clusterIP"));
  const auto list = ctx.reader.stringList(spec, "clusterIPs", "spec");
  for (size_t i = 0; i < list.size(); ++i) ips.emplace_back(list[i], child(spec, "clusterIPs")[i]);
  for (const auto& [text, at] : ips) {
    if (text == "None" || text.empty()) continue;
    const auto ip = parseIp(text);
    if (!ip) {
      ctx.reader.fail(at, fmt::format("invalid cluster IP '{}'", text));
    } else if (std::find(svc.vips().begin(), svc.vips().end(), *ip) == svc.vips().end()) {
      svc.add_vips(*ip);
    }
  }
}

}  // namespace

void translateService(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec",
                         {"selector",
                          "ports",
                          "clusterIP",
                          "clusterIPs",
                          "type",
                          "sessionAffinity",
                          "sessionAffinityConfig",
                          "ipFamilies",
                          "ipFamilyPolicy",
                          "externalTrafficPolicy",
                          "internalTrafficPolicy",
                          "publishNotReadyAddresses",
                          "externalIPs",
                          "externalName",
                          "loadBalancerIP",
                          "loadBalancerSourceRanges",
                          "loadBalancerClass",
                          "allocateLoadBalancerNodePorts",
                          "healthCheckNodePort",
                          "trafficDistribution"});
  v1::Service svc;
  svc.set_name(ctx.res.name);
  svc.set_namespace_(ctx.res.ns);
  svc.set_hostname(
      fmt::format("{}.{}.svc.{}", ctx.res.name, ctx.res.ns, ctx.options.cluster_domain));
  const auto labels = readLabels(ctx);
  checkMeshLabel(ctx, labels, kUseWaypoint, {});
  svc.mutable_labels()->insert(labels.begin(), labels.end());
  const auto selector = readSelector(ctx, spec, "selector", "spec");
  svc.mutable_selector()->insert(selector.begin(), selector.end());
  const auto ports = ctx.reader.list(spec, "ports", "spec");
  for (size_t i = 0; i < ports.size(); ++i) {
    readServicePort(ctx, ports[i], fieldPath("spec.ports", i), svc);
  }
  readClusterIps(ctx, spec, svc);
  ctx.model.services.push_back({std::move(svc), &ctx.res});
}

void translateGateway(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  const auto cls = ctx.reader.str(spec, "gatewayClassName", "spec", true);
  if (!cls || (*cls != "istio-waypoint" && *cls != "ambit-waypoint")) return;  // not ours
  ctx.reader.checkFields(spec, "spec",
                         {"gatewayClassName", "listeners", "addresses", "infrastructure",
                          "backendTLS", "allowedListeners"});
  v1::Waypoint wp;
  wp.set_name(ctx.res.name);
  wp.set_namespace_(ctx.res.ns);
  wp.set_gateway_class(*cls);
  wp.set_service_account(ctx.res.name);
  wp.set_hbone_port(15008);
  const auto labels = readLabels(ctx);
  checkMeshLabel(ctx, labels, kWaypointFor, {"service", "workload", "all", "none"});
  wp.set_traffic_type(labelOr(labels, kWaypointFor, "service"));
  const auto addrs = ctx.reader.list(child(ctx.res.doc, "status"), "addresses", "status");
  for (size_t i = 0; i < addrs.size(); ++i) {
    const std::string path = fieldPath("status.addresses", i);
    // Hostname addresses (Istio publishes the waypoint Service's name) say nothing about IPs.
    if (ctx.reader.str(addrs[i], "type", path).value_or("IPAddress") == "Hostname") continue;
    const auto v = ctx.reader.str(addrs[i], "value", path, true);
    if (!v) continue;
    if (auto ip = parseIp(*v)) {
      wp.add_addresses(*ip);
    } else {
      ctx.reader.fail(child(addrs[i], "value"), fmt::format("invalid waypoint address '{}'", *v));
    }
  }
  ctx.model.waypoints.push_back({std::move(wp), &ctx.res});
}

}  // namespace ambit::config
