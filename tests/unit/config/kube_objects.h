#pragma once
// API-shaped Kubernetes objects for MeshModel tests: what the kube-apiserver returns, with the
// fields real objects carry that hand-written YAML fixtures do not (uid, resourceVersion,
// managedFields, ownerReferences, status conditions, container specs, defaulted fields).

#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ambit::config::testing {

using Json = nlohmann::json;
using LabelMap = std::map<std::string, std::string>;

inline Json apiMetadata(const std::string& ns, const std::string& name, const LabelMap& labels,
                        const std::string& uid = "") {
  Json meta = {
      {"name", name},
      {"uid", uid.empty() ? "0f6c2a4e-" + name : uid},
      {"resourceVersion", "48213"},
      {"generation", 1},
      {"creationTimestamp", "2026-12-04T10:00:00Z"},
      {"managedFields",
       Json::array({{{"manager", "kubectl-client-side-apply"},
                     {"operation", "Update"},
                     {"apiVersion", "v1"},
                     {"time", "2026-12-04T10:00:00Z"},
                     {"fieldsType", "FieldsV1"},
                     {"fieldsV1", {{"f:metadata", {{"f:labels", Json::object()}}}}}}})},
  };
  if (!ns.empty()) meta["namespace"] = ns;
  if (!labels.empty()) meta["labels"] = labels;
  return meta;
}

struct PodSpec {
  std::string ns = "default";
  std::string name;
  LabelMap labels;
  std::vector<std::string> ips;  // empty: Pending, no IP yet
  std::string node = "node-1";
  std::string phase = "Running";
  std::string uid;
  bool host_network = false;
  bool ready = true;  // with IPs: the kubelet's Ready condition (readiness probes pass)
};

inline Json apiPod(const PodSpec& p) {
  Json meta = apiMetadata(p.ns, p.name, p.labels, p.uid);
  meta["generateName"] = p.name.substr(0, p.name.find('-') + 1);
  meta["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "ReplicaSet"},
                                          {"name", "rs-" + p.name},
                                          {"uid", "5b1f-rs"},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}});
  meta["annotations"] = {{"kubectl.kubernetes.io/restartedAt", "2026-12-04T09:00:00Z"}};
  Json spec = {
      {"containers",
       Json::array({{{"name", "app"},
                     {"image", "registry.k8s.io/e2e-test-images/agnhost:2.53"},
                     {"args", Json::array({"netexec", "--http-port=8080"})},
                     {"ports", Json::array({{{"containerPort", 8080}, {"protocol", "TCP"}}})},
                     {"resources", Json::object()},
                     {"volumeMounts", Json::array({{{"name", "kube-api-access"},
                                                    {"readOnly", true},
                                                    {"mountPath", "/var/run/secrets/x"}}})},
                     {"terminationMessagePath", "/dev/termination-log"},
                     {"terminationMessagePolicy", "File"},
                     {"imagePullPolicy", "IfNotPresent"}}})},
      {"volumes",
       Json::array({{{"name", "kube-api-access"},
                     {"projected", {{"defaultMode", 420}, {"sources", Json::array()}}}}})},
      {"restartPolicy", "Always"},
      {"terminationGracePeriodSeconds", 30},
      {"dnsPolicy", "ClusterFirst"},
      {"serviceAccountName", "sa-" + p.name.substr(0, p.name.find('-'))},
      {"serviceAccount", "sa-" + p.name.substr(0, p.name.find('-'))},
      {"securityContext", Json::object()},
      {"schedulerName", "default-scheduler"},
      {"tolerations", Json::array({{{"key", "node.kubernetes.io/not-ready"},
                                    {"operator", "Exists"},
                                    {"effect", "NoExecute"},
                                    {"tolerationSeconds", 300}}})},
      {"priority", 0},
      {"enableServiceLinks", true},
      {"preemptionPolicy", "PreemptLowerPriority"},
  };
  if (!p.node.empty()) spec["nodeName"] = p.node;
  if (p.host_network) spec["hostNetwork"] = true;
  Json status = {
      {"phase", p.phase},
      {"conditions", Json::array({{{"type", "PodScheduled"},
                                   {"status", "True"},
                                   {"lastProbeTime", nullptr},
                                   {"lastTransitionTime", "2026-12-04T10:00:00Z"}}})},
      {"qosClass", "BestEffort"},
  };
  if (!p.ips.empty()) {
    status["hostIP"] = "172.18.0.2";
    status["hostIPs"] = Json::array({{{"ip", "172.18.0.2"}}});
    status["podIP"] = p.ips.front();
    status["podIPs"] = Json::array();
    for (const auto& ip : p.ips) status["podIPs"].push_back({{"ip", ip}});
    status["startTime"] = "2026-12-04T10:00:01Z";
    status["conditions"].push_back({{"type", "Ready"},
                                    {"status", p.ready ? "True" : "False"},
                                    {"lastProbeTime", nullptr},
                                    {"lastTransitionTime", "2026-12-04T10:00:02Z"}});
    status["containerStatuses"] =
        Json::array({{{"name", "app"},
                      {"ready", true},
                      {"restartCount", 0},
                      {"started", true},
                      {"image", "registry.k8s.io/e2e-test-images/agnhost:2.53"},
                      {"imageID", "sha256:0123"},
                      {"containerID", "containerd://abcd"},
                      {"state", {{"running", {{"startedAt", "2026-12-04T10:00:02Z"}}}}},
                      {"lastState", Json::object()}}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", meta},
          {"spec", spec},
          {"status", status}};
}

inline Json apiNamespace(const std::string& name, LabelMap labels) {
  labels["kubernetes.io/metadata.name"] = name;
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", apiMetadata("", name, labels)},
          {"spec", {{"finalizers", Json::array({"kubernetes"})}}},
          {"status", {{"phase", "Active"}}}};
}

inline Json apiService(const std::string& ns, const std::string& name, const LabelMap& selector,
                       const std::string& cluster_ip, const LabelMap& labels = {}) {
  Json spec = {
      {"ports",
       Json::array({{{"name", "http"}, {"protocol", "TCP"}, {"port", 80}, {"targetPort", 8080}}})},
      {"clusterIP", cluster_ip},
      {"clusterIPs", Json::array({cluster_ip})},
      {"type", "ClusterIP"},
      {"sessionAffinity", "None"},
      {"ipFamilies", Json::array({"IPv4"})},
      {"ipFamilyPolicy", "SingleStack"},
      {"internalTrafficPolicy", "Cluster"}};
  if (!selector.empty()) spec["selector"] = selector;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", apiMetadata(ns, name, labels)},
          {"spec", spec},
          {"status", {{"loadBalancer", Json::object()}}}};
}

// An EndpointSlice of Service `service` whose endpoints are the pods `pods` ("<name>" in `ns`).
inline Json apiEndpointSlice(const std::string& ns, const std::string& name,
                             const std::string& service, const std::vector<std::string>& pods) {
  Json endpoints = Json::array();
  int i = 0;
  for (const auto& pod : pods) {
    endpoints.push_back(
        {{"addresses", Json::array({"10.9.9." + std::to_string(++i)})},
         {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
         {"nodeName", "node-1"},
         {"targetRef",
          {{"kind", "Pod"}, {"namespace", ns}, {"name", pod}, {"uid", "0f6c2a4e-" + pod}}}});
  }
  endpoints.push_back({{"addresses", Json::array({"192.0.2.7"})},
                       {"conditions", {{"ready", true}}}});  // an external address: no pod
  Json meta = apiMetadata(ns, name,
                          {{"kubernetes.io/service-name", service},
                           {"endpointslice.kubernetes.io/managed-by", "user"}});
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", meta},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", Json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}})}};
}

inline Json apiWaypoint(const std::string& ns, const std::string& name,
                        const std::string& traffic_type,
                        const std::string& cls = "istio-waypoint") {
  LabelMap labels;
  if (!traffic_type.empty()) labels["istio.io/waypoint-for"] = traffic_type;
  return {
      {"apiVersion", "gateway.networking.k8s.io/v1"},
      {"kind", "Gateway"},
      {"metadata", apiMetadata(ns, name, labels)},
      {"spec",
       {{"gatewayClassName", cls},
        {"listeners", Json::array({{{"name", "mesh"},
                                    {"port", 15008},
                                    {"protocol", "HBONE"},
                                    {"allowedRoutes", {{"namespaces", {{"from", "Same"}}}}}}})}}},
      {"status",
       {{"conditions", Json::array({{{"type", "Programmed"}, {"status", "True"}}})},
        {"addresses", Json::array({{{"type", "Hostname"},
                                    {"value", name + "." + ns + ".svc.cluster.local"}}})}}}};
}

// A VirtualService on `host` splitting between `subsets` by `weights` (one subset: no weight).
inline Json apiVirtualService(const std::string& ns, const std::string& name,
                              const std::string& host,
                              const std::vector<std::pair<std::string, int>>& subsets) {
  Json route = Json::array();
  for (const auto& [subset, weight] : subsets) {
    Json d = {{"destination", {{"host", host}, {"subset", subset}}}};
    if (subsets.size() > 1) d["weight"] = weight;
    route.push_back(d);
  }
  return {{"apiVersion", "networking.istio.io/v1"},
          {"kind", "VirtualService"},
          {"metadata", apiMetadata(ns, name, {})},
          {"spec", {{"hosts", Json::array({host})}, {"http", Json::array({{{"route", route}}})}}}};
}

inline Json apiDestinationRule(const std::string& ns, const std::string& name,
                               const std::string& host, const std::vector<std::string>& subsets) {
  Json list = Json::array();
  for (const auto& s : subsets) list.push_back({{"name", s}, {"labels", {{"version", s}}}});
  return {{"apiVersion", "networking.istio.io/v1"},
          {"kind", "DestinationRule"},
          {"metadata", apiMetadata(ns, name, {})},
          {"spec", {{"host", host}, {"subsets", list}}}};
}

inline Json apiHttpRoute(const std::string& ns, const std::string& name,
                         const std::string& parent_service, const std::string& backend) {
  return {{"apiVersion", "gateway.networking.k8s.io/v1"},
          {"kind", "HTTPRoute"},
          {"metadata", apiMetadata(ns, name, {})},
          {"spec",
           {{"parentRefs",
             Json::array(
                 {{{"group", ""}, {"kind", "Service"}, {"name", parent_service}, {"port", 80}}})},
            {"rules",
             Json::array(
                 {{{"matches", Json::array({{{"path", {{"type", "PathPrefix"}, {"value", "/"}}}}})},
                   {"backendRefs", Json::array({{{"group", ""},
                                                 {"kind", "Service"},
                                                 {"name", backend},
                                                 {"port", 80},
                                                 {"weight", 1}}})}}})}}},
          {"status", {{"parents", Json::array()}}}};
}

inline Json apiAuthorizationPolicy(const std::string& ns, const std::string& name,
                                   const std::string& app, const std::string& action) {
  return {
      {"apiVersion", "security.istio.io/v1"},
      {"kind", "AuthorizationPolicy"},
      {"metadata", apiMetadata(ns, name, {})},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", app}}}}},
        {"action", action},
        {"rules",
         Json::array(
             {{{"from", Json::array({{{"source", {{"namespaces", Json::array({ns})}}}}})}}})}}}};
}

inline Json apiPeerAuthentication(const std::string& ns, const std::string& name,
                                  const std::string& mode) {
  return {{"apiVersion", "security.istio.io/v1"},
          {"kind", "PeerAuthentication"},
          {"metadata", apiMetadata(ns, name, {})},
          {"spec", {{"mtls", {{"mode", mode}}}}}};
}

inline Json apiRequestAuthentication(const std::string& ns, const std::string& name,
                                     const std::string& issuer) {
  return {{"apiVersion", "security.istio.io/v1"},
          {"kind", "RequestAuthentication"},
          {"metadata", apiMetadata(ns, name, {})},
          {"spec",
           {{"jwtRules",
             Json::array({{{"issuer", issuer}, {"jwksUri", "https://" + issuer + "/jwks"}}})}}}};
}

// A YAML document (a tests/data fixture) as the JSON an API server would hold: scalars as
// strings, which the translators read exactly as they read YAML scalars.
inline Json yamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (auto it = node.begin(); it != node.end(); ++it)
        out[it->first.Scalar()] = yamlToJson(it->second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(yamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return node.Scalar();
    default:
      return nullptr;
  }
}

inline std::vector<Json> yamlDocsToJson(const std::string& yaml) {
  std::vector<Json> out;
  for (const auto& doc : YAML::LoadAll(yaml)) {
    if (doc.IsDefined() && !doc.IsNull()) out.push_back(yamlToJson(doc));
  }
  return out;
}

}  // namespace ambit::config::testing
