#include "cli/lab/lab_yaml.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace ambit::lab {
namespace {

void emitMap(YAML::Emitter& e, const char* key, const std::map<std::string, std::string>& m) {
  e << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : m) e << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  e << YAML::EndMap;
}

void beginObject(YAML::Emitter& e, const char* api, const char* kind, const std::string& name,
                 const std::string& ns) {
  e << YAML::BeginDoc << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << api;
  e << YAML::Key << "kind" << YAML::Value << kind;
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << name;
  if (!ns.empty()) e << YAML::Key << "namespace" << YAML::Value << ns;
}

std::string namespaces(const Topology& t) {
  std::set<std::string> names{"istio-system"};
  for (const auto& p : t.pods) names.insert(p.namespace_name);
  YAML::Emitter e;
  for (const auto& n : names) {
    beginObject(e, "v1", "Namespace", n, "");
    if (n != "istio-system") emitMap(e, "labels", {{"istio.io/dataplane-mode", "ambient"}});
    e << YAML::EndMap << YAML::EndMap;  // metadata, object
  }
  return e.c_str();
}

void podSpecAndStatus(YAML::Emitter& e, const Topology& t, const PodSpec& p) {
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "nodeName" << YAML::Value << p.node;
  e << YAML::Key << "serviceAccountName" << YAML::Value << p.service_account;
  e << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << "app";
  e << YAML::Key << "image" << YAML::Value << "ambit-sample-app";
  e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << "http";
  e << YAML::Key << "containerPort" << YAML::Value << kAppPort;
  e << YAML::Key << "protocol" << YAML::Value << "TCP";
  e << YAML::EndMap << YAML::EndSeq << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap;
  const NodeSpec* node = t.findNode(p.node);
  e << YAML::Key << "status" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "phase" << YAML::Value << "Running";
  if (node != nullptr) e << YAML::Key << "hostIP" << YAML::Value << node->underlay_ipv4;
  e << YAML::Key << "podIP" << YAML::Value << p.ipv4;
  e << YAML::Key << "podIPs" << YAML::Value << YAML::BeginSeq;
  e << YAML::BeginMap << YAML::Key << "ip" << YAML::Value << p.ipv4 << YAML::EndMap;
  e << YAML::BeginMap << YAML::Key << "ip" << YAML::Value << p.ipv6 << YAML::EndMap;
  e << YAML::EndSeq << YAML::EndMap;
}

std::string pods(const Topology& t) {
  YAML::Emitter e;
  for (const auto& p : t.pods) {
    beginObject(e, "v1", "Pod", p.name, p.namespace_name);
    emitMap(e, "labels", p.labels);
    emitMap(e, "annotations", {{kNetnsAnnotation, "/run/netns/" + p.netns}});
    e << YAML::EndMap;  // metadata
    podSpecAndStatus(e, t, p);
    e << YAML::EndMap;
  }
  return e.c_str();
}

std::string services(const Topology& t) {
  YAML::Emitter e;
  for (const auto& s : t.services) {
    beginObject(e, "v1", "Service", s.name, s.namespace_name);
    if (!s.labels.empty()) emitMap(e, "labels", s.labels);
    e << YAML::EndMap;  // metadata
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    emitMap(e, "selector", s.selector);
    e << YAML::Key << "type" << YAML::Value << "ClusterIP";
    e << YAML::Key << "clusterIP" << YAML::Value << s.cluster_ipv4;
    e << YAML::Key << "clusterIPs" << YAML::Value << YAML::Flow << YAML::BeginSeq << s.cluster_ipv4
      << s.cluster_ipv6 << YAML::EndSeq;
    e << YAML::Key << "ipFamilies" << YAML::Value << YAML::Flow << YAML::BeginSeq << "IPv4"
      << "IPv6" << YAML::EndSeq;
    e << YAML::Key << "ipFamilyPolicy" << YAML::Value << "RequireDualStack";
    e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
    for (const auto& port : s.ports) {
      e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << port.name;
      e << YAML::Key << "port" << YAML::Value << port.port;
      e << YAML::Key << "targetPort" << YAML::Value << port.target_port;
      e << YAML::Key << "protocol" << YAML::Value << "TCP" << YAML::EndMap;
    }
    e << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  }
  return e.c_str();
}

std::string destinationRules(const Topology& t) {
  YAML::Emitter e;
  for (const auto& s : t.services) {
    std::set<std::string> versions;
    for (const auto& p : t.pods) {
      auto app = p.labels.find("app");
      auto v = p.labels.find("version");
      if (app != p.labels.end() && s.selector.count("app") && app->second == s.selector.at("app") &&
          v != p.labels.end()) {
        versions.insert(v->second);
      }
    }
    if (versions.empty()) continue;
    beginObject(e, "networking.istio.io/v1alpha3", "DestinationRule", s.name, s.namespace_name);
    e << YAML::EndMap;
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "host" << YAML::Value << s.name;
    e << YAML::Key << "subsets" << YAML::Value << YAML::BeginSeq;
    for (const auto& v : versions) {
      e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << v;
      emitMap(e, "labels", {{"version", v}});
      e << YAML::EndMap;
    }
    e << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  }
  return e.c_str();
}

// The Gateway of the waypoint pod, if the lab has one (its address comes from the pod).
std::string waypointGateway(const Topology& t) {
  const PodSpec* p = t.findPod(kWaypointName);
  if (p == nullptr) return "";
  YAML::Emitter e;
  beginObject(e, "gateway.networking.k8s.io/v1", "Gateway", kWaypointName, p->namespace_name);
  emitMap(e, "labels", {{"istio.io/waypoint-for", "service"}});
  e << YAML::EndMap;  // metadata
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "gatewayClassName" << YAML::Value << "istio-waypoint";
  e << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << "mesh";
  e << YAML::Key << "port" << YAML::Value << kWaypointHbonePort;
  e << YAML::Key << "protocol" << YAML::Value << "HBONE";
  e << YAML::EndMap << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  return e.c_str();
}

}  // namespace

std::map<std::string, std::string> renderConfig(const Topology& t) {
  auto withNewline = [](std::string s) { return s.empty() || s.back() == '\n' ? s : s + "\n"; };
  std::map<std::string, std::string> files{
      {"00-namespaces.yaml", withNewline(namespaces(t))},
      {"10-pods.yaml", withNewline(pods(t))},
      {"20-services.yaml", withNewline(services(t))},
      {"30-destination-rules.yaml", withNewline(destinationRules(t))}};
  if (std::string gateway = waypointGateway(t); !gateway.empty()) {
    files["40-waypoint.yaml"] = withNewline(gateway);
  }
  return files;
}

}  // namespace ambit::lab
